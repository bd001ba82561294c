import NNCore

/// One tensor a request sends: a numeric input's [rows, width] features, or one raw column's
/// [rows] values (numbers, or text — BYTES — with gaps) of an input taking raw rows.
public struct RequestInput: Sendable, Equatable {
    public var name: String
    /// Values per row: the input's width, or 1 for a raw column.
    public var width: Int
    /// The raw column, for a model taking raw rows; nil for a numeric input.
    public var column: RawColumn?

    /// Numeric inputs as they are, raw columns once each in input order (two inputs may read
    /// one column: the request sends it once).
    static func inputs(of bindings: [Plan.Binding]) -> [RequestInput] {
        var result: [RequestInput] = []
        for binding in bindings {
            if binding.columns.isEmpty {
                result.append(RequestInput(name: binding.name, width: binding.width, column: nil))
                continue
            }
            for column in binding.columns where !result.contains(where: { $0.name == column.name }) {
                result.append(RequestInput(name: column.name, width: 1, column: column))
            }
        }
        return result
    }
}

/// What one request's raw values looked like, per raw column: the server's missing,
/// out-of-vocabulary and out-of-range counts and the drift histogram come from these.
public struct ColumnTally: Sendable, Equatable {
    /// Index into `Plan.requestInputs`.
    public var input: Int
    public var rows = 0
    public var missing = 0
    public var unknown = 0
    public var outsideRange = 0
    /// Present values per `ColumnProfile` bin.
    public var bins: [Int]
    /// Each row's bin in row order (`gap` for a gap): the drift window takes values in the
    /// order they came, so its last N values are exactly the last N rows.
    public var rowBins: [UInt32] = []
    public static let gap = UInt32.max

    public init(input: Int, bins: Int, rows: Int = 0) {
        self.input = input
        self.bins = [Int](repeating: 0, count: bins)
        rowBins.reserveCapacity(rows)
    }

    mutating func count(_ observation: RawObservation) {
        rows += 1
        rowBins.append(observation.bin.map { UInt32(truncatingIfNeeded: $0) } ?? Self.gap)
        guard let bin = observation.bin else {
            missing += 1
            return
        }
        if bins.indices.contains(bin) { bins[bin] += 1 }
        if observation.unknown { unknown += 1 }
        if observation.outsideRange { outsideRange += 1 }
    }
}

extension Plan {
    /// Whether requests send raw columns (strings, gaps) rather than numeric inputs only.
    public var takesRawRows: Bool { requestInputs.contains { $0.column != nil } }

    /// The features of `binding`, an input taking raw rows, encoded from the request's column
    /// tensors ([rows] or [rows, 1] each); counts what it saw in `tallies` for the columns no
    /// earlier input encoded.
    func encodeRawRows(_ binding: Binding, given: [NamedInput], limits: RequestLimits, rows: inout Int?,
                       tallies: inout [ColumnTally]) throws(InputError) -> [Float] {
        var columns: [(column: RawColumn, input: NamedInput, tally: Int?)] = []
        for column in binding.columns {
            guard let input = given.first(where: { $0.name == column.name }) else { throw .missingInput(name: column.name) }
            let count = input.text?.count ?? input.values.count
            let shape = input.shape.isEmpty ? [Int64(count)] : input.shape
            guard shape.count == 1 || (shape.count == 2 && shape[1] == 1) else {
                throw .wrongShape(input: column.name, shape: shape, width: 1)
            }
            guard shape[0] > 0 || (shape[0] == 0 && limits.allowsEmptyBatch) else { throw .emptyBatch(input: column.name) }
            guard shape[0] <= Int64(limits.maxRows) else { throw .tooManyRows(input: column.name, rows: shape[0], limit: limits.maxRows) }
            guard count == Int(shape[0]) else { throw .wrongValueCount(input: column.name, values: count, rows: Int(shape[0]), width: 1) }
            if let rows, rows != count { throw .rowCountMismatch(input: column.name, rows: count, expected: rows) }
            rows = count
            let index = requestInputs.firstIndex { $0.name == column.name }!
            var tally: Int?
            if !tallies.contains(where: { $0.input == index }) {
                tallies.append(ColumnTally(input: index, bins: column.profile.fractions.count, rows: count))
                tally = tallies.count - 1
            }
            columns.append((column, input, tally))
        }
        let count = rows ?? 0
        let width = binding.width
        var features = [Float](repeating: 0, count: count * width)
        var failure: InputError?
        features.withUnsafeMutableBufferPointer { buffer in
            var offset = 0
            for (column, input, tally) in columns {
                for row in 0..<count {
                    let value: RawValue = if let text = input.text { text[row].map { RawValue(field: $0) } ?? .missing } else { RawValue(number: input.values[row]) }
                    do {
                        let observation = try column.encode(value, into: buffer.baseAddress! + row * width + offset)
                        if let tally { tallies[tally].count(observation) }
                    } catch {
                        failure = .badValue(input: column.name, row: row, detail: "\(error)")
                        return
                    }
                }
                offset += column.width
            }
        }
        if let failure { throw failure }
        return features
    }
}
