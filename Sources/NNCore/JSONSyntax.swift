import Foundation

/// Where a JSON file stops being JSON, as a line and column ("line 3, column 29: invalid
/// value"), for model files, search spaces and request bodies: Foundation's decoder says only
/// "the given data was not valid JSON", its parser "around character 58".
public enum JSONSyntax {
    /// nil when `data` parses.
    public static func error(in data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            let detail = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            guard let range = detail.range(of: #"around (line \d+, column \d+|character \d+)"#, options: .regularExpression) else {
                return "not valid JSON: \(detail)"
            }
            let what = detail[..<range.lowerBound].trimmingCharacters(in: .whitespaces).lowercased()
            let position = String(detail[range].dropFirst("around ".count))
            guard position.hasPrefix("character "), let offset = Int(position.dropFirst("character ".count)) else {
                return "\(position): \(what.isEmpty ? "not valid JSON" : what)"
            }
            let (line, column) = lineAndColumn(of: offset, in: data)
            return "line \(line), column \(column): \(what.isEmpty ? "not valid JSON" : what)"
        }
    }

    /// 1-based line and column of byte `offset` (clamped to the data).
    public static func lineAndColumn(of offset: Int, in data: Data) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for byte in data.prefix(max(0, offset)) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}
