/// Comma-separated (or `delimiter`-separated) text as records of fields, by RFC 4180: a field may be quoted ("a, b"), a
/// quote inside a quoted field is doubled (""), a quoted field may hold line breaks, and lines
/// end in LF, CRLF or a lone CR. A UTF-8 byte-order mark at the start is skipped, and trailing blank
/// lines are not records. Fields are returned as written (no trimming, no conversion): the
/// callers — training tables, nnclient's rows — decide what a field means.
///
/// The one CSV reader of the project; each record keeps the line it starts on, so errors
/// about a value can name its line even after a quoted field spanned several.
public enum CSVReader {
    public struct Record: Sendable, Equatable {
        /// The 1-based line the record starts on.
        public var line: Int
        public var fields: [String]
        /// A line with nothing on it (not even a quoted empty field).
        public var isBlank: Bool

        public init(line: Int, fields: [String], isBlank: Bool = false) {
            self.line = line
            self.fields = fields
            self.isBlank = isBlank
        }
    }

    /// Text that is not CSV: a quote left open, or text after a closing quote.
    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        public var line: Int
        public var detail: String

        public var description: String { "line \(line): \(detail)" }
    }

    /// Every record of `text`. For a file, `forEachRecord` reads one record at a time.
    public static func records(_ text: String, delimiter: UInt8 = comma) throws(SyntaxError) -> [Record] {
        var text = text
        return try text.withUTF8 { bytes in Result { () throws(SyntaxError) in try records(bytes, delimiter: delimiter) } }.get()
    }

    public static func records(_ bytes: UnsafeBufferPointer<UInt8>, delimiter: UInt8 = comma) throws(SyntaxError) -> [Record] {
        var records: [Record] = []
        var pendingBlank: [Record] = []
        do {
            try forEachRecord(bytes, delimiter: delimiter) { record in
                // Blank lines are records only when more follow.
                if record.isBlank { pendingBlank.append(record); return }
                records += pendingBlank
                pendingBlank.removeAll()
                records.append(record)
            }
        } catch let error as SyntaxError {
            throw error
        } catch {
            preconditionFailure("the body throws nothing")
        }
        return records
    }

    /// The comma; `--delimiter` names another (`;` in much of Europe, a tab in TSV files).
    public static let comma: UInt8 = 44

    /// The delimiter a flag names: one ASCII character other than a quote or a line break,
    /// or `tab` (also `\t`).
    public static func delimiter(named name: String) -> UInt8? {
        if name == "tab" || name == "\\t" || name == "\t" { return 9 }
        guard name.utf8.count == 1, let byte = name.utf8.first, byte < 0x80, ![34, 10, 13].contains(byte) else { return nil }
        return byte
    }

    /// Calls `body` with each record of `bytes` in order, holding one record at a time (a
    /// file's text is never copied whole). Fields must be UTF-8: a field that is not is a
    /// `SyntaxError` naming its line. Trailing blank lines are passed like any other record
    /// (`isBlank`), so a caller can drop them. Errors `body` throws end the reading and come
    /// out as thrown.
    public static func forEachRecord(_ bytes: UnsafeBufferPointer<UInt8>, delimiter: UInt8 = comma, _ body: (Record) throws -> Void) throws {
        let separator = delimiter
        let (quote, newline, carriageReturn, space, tab): (UInt8, UInt8, UInt8, UInt8, UInt8) = (34, 10, 13, 32, 9)
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1
        var recordLine = 1
        // Whether anything of the current record was read (a lone "" is a record too).
        var recordStarted = false
        var recordQuoted = false
        var index = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        let end = bytes.count
        func endField() throws(SyntaxError) {
            guard let text = String(validating: field, as: UTF8.self) else {
                throw SyntaxError(line: line, detail: "field \(fields.count + 1) is not UTF-8 text")
            }
            fields.append(text)
            field.removeAll(keepingCapacity: true)
        }
        func endRecord() throws {
            try endField()
            let record = Record(line: recordLine, fields: fields, isBlank: fields == [""] && !recordQuoted)
            fields.removeAll(keepingCapacity: true)
            recordStarted = false
            recordQuoted = false
            try body(record)
        }
        while index < end {
            let byte = bytes[index]
            recordStarted = true
            if byte == quote && field.allSatisfy({ $0 == space || $0 == tab }) {
                // A quoted field (spaces before its opening quote are not part of it): up to
                // the quote that is not doubled.
                field.removeAll(keepingCapacity: true)
                let opened = line
                recordQuoted = true
                index += 1
                while true {
                    guard index < end else {
                        throw SyntaxError(line: opened, detail: "a quoted field opened here is never closed")
                    }
                    let inner = bytes[index]
                    if inner == quote {
                        if index + 1 < end, bytes[index + 1] == quote {
                            field.append(quote)
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    if inner == newline { line += 1 }
                    field.append(inner)
                    index += 1
                }
                // Padding after the closing quote, unless it is the delimiter (a tab in TSV).
                while index < end, bytes[index] == space || bytes[index] == tab, bytes[index] != separator { index += 1 }
                guard index == end || [separator, newline, carriageReturn].contains(bytes[index]) else {
                    throw SyntaxError(line: line, detail: "text after the closing quote of a field (a quote inside a quoted field is written \"\")")
                }
                if index == end { break }
                continue
            }
            switch byte {
            case separator:
                try endField()
            case newline:
                try endRecord()
                line += 1
                recordLine = line
            case carriageReturn where index + 1 < end && bytes[index + 1] == newline:
                break
            case carriageReturn:
                // A lone CR ends a line too (classic Mac and some spreadsheet exports).
                try endRecord()
                line += 1
                recordLine = line
            default:
                field.append(byte)
            }
            index += 1
        }
        if recordStarted { try endRecord() }
    }
}
