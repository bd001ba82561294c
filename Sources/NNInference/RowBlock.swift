import Dispatch

/// One named input of a request as it was sent, whichever protocol carried it: [rows, width]
/// (an empty shape means rows are inferred from the value count). A raw column of a model
/// taking raw rows comes as numbers (NaN: a gap) or as `text` (BYTES; nil or a missing
/// spelling: a gap).
public struct NamedInput: Sendable {
    public var name: String
    public var shape: [Int64]
    public var values: [Float]
    /// The elements as text, when the request sent strings; `values` is then empty.
    public var text: [String?]?

    public init(name: String, shape: [Int64], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
        text = nil
    }

    public init(name: String, shape: [Int64], text: [String?]) {
        self.name = name
        self.shape = shape
        values = []
        self.text = text
    }
}

/// What one request may ask of a plan.
public struct RequestLimits: Sendable {
    /// Rows one request may carry (larger requests run in chunks of the plan's maximum).
    public var maxRows: Int
    /// Output values (rows × requested output widths) one answer may carry.
    public var maxOutputValues: Int
    /// Whether a request without rows is an error (for a server: nothing to answer) or an
    /// empty answer (for a tool evaluating an empty split).
    public var allowsEmptyBatch: Bool

    public init(maxRows: Int, maxOutputValues: Int, allowsEmptyBatch: Bool = false) {
        self.maxRows = maxRows
        self.maxOutputValues = maxOutputValues
        self.allowsEmptyBatch = allowsEmptyBatch
    }

    /// No bounds: tools and tests running tensors of any size.
    public static let unbounded = RequestLimits(maxRows: .max, maxOutputValues: .max, allowsEmptyBatch: true)
}

/// A request checked against a plan and laid out for it: the unit the executor runs, alone or
/// batched with others (`Executor.run(_:)`).
public struct RowBlock: Sendable {
    public let rows: Int
    /// One contiguous row-major [rows, width] array per plan input, in `plan.inputs` order.
    public let inputs: [[Float]]
    /// Indices into `plan.outputs` to return, each once.
    public let outputs: [Int]
    /// What the raw columns held (empty for a model taking numbers only).
    public let tallies: [ColumnTally]
}

/// Why a request does not fit a plan; each case names the value at fault. `message(model:)`
/// is the text the fronts send, with the model's label.
public enum InputError: Error, Equatable, CustomStringConvertible {
    case unknownInput(name: String, known: [String])
    case missingInput(name: String)
    case wrongShape(input: String, shape: [Int64], width: Int)
    /// `shape` is [rows, features] as sent.
    case wrongWidth(input: String, shape: [Int64], width: Int)
    case emptyBatch(input: String)
    case tooManyRows(input: String, rows: Int64, limit: Int)
    case wrongValueCount(input: String, values: Int, rows: Int, width: Int)
    case rowCountMismatch(input: String, rows: Int, expected: Int)
    /// `feature` is the feature's name in quotes, or its index.
    case notFinite(input: String, row: Int, feature: String, value: Float)
    /// Strings sent for a numeric input.
    case textForNumbers(input: String, width: Int)
    /// A raw column's value its column cannot take (`RawValueError`'s description).
    case badValue(input: String, row: Int, detail: String)
    case unknownOutput(name: String, known: [String])
    case repeatedOutput(name: String)
    case answerTooLarge(values: Int, rows: Int, limit: Int)

    /// For a tool running a model file (no model name to give): shapes and lists in full.
    public var description: String {
        func list(_ names: [String]) -> String { names.map { "'\($0)'" }.joined(separator: ", ") }
        switch self {
        case .wrongWidth(let input, let shape, let width): return "input '\(input)' has shape \(shape); the model expects [rows, \(width)]"
        case .unknownInput(let name, let known): return "unknown input '\(name)'; the model's inputs are \(list(known))"
        case .unknownOutput(let name, let known): return "unknown output '\(name)'; the model's outputs are \(list(known))"
        default: return message(model: "the model")
        }
    }

    public func message(model label: String) -> String {
        func list(_ names: [String]) -> String { names.map { "'\($0)'" }.joined(separator: ", ") }
        switch self {
        case .unknownInput(let name, let known): return "unknown input '\(name)'; \(label) takes \(list(known))"
        case .missingInput(let name): return "input '\(name)' is missing; \(label) needs it"
        case .wrongShape(let input, let shape, let width): return "input '\(input)' has shape \(shape); \(label) expects [rows, \(width)]"
        case .wrongWidth(let input, let shape, let width): return "input '\(input)' has \(shape[1]) features; \(label) expects \(width)"
        case .emptyBatch(let input): return "input '\(input)' has no rows: the batch is empty"
        case .tooManyRows(let input, let rows, let limit): return "input '\(input)' has \(rows) rows; requests carry at most \(limit)"
        case .wrongValueCount(let input, let values, let rows, let width):
            return "input '\(input)' has \(values) values for shape [\(rows), \(width)]"
        case .rowCountMismatch(let input, let rows, let expected): return "input '\(input)' has \(rows) rows, the other inputs \(expected)"
        case .notFinite(let input, let row, let feature, let value):
            return "input '\(input)' row \(row) feature \(feature) is \(value); values must be finite"
        case .textForNumbers(let input, let width):
            return "input '\(input)' is text (BYTES); \(label) takes it as [rows, \(width)] numbers (FP32)"
        case .badValue(let input, let row, let detail):
            return "input '\(input)' row \(row): \(detail)"
        case .unknownOutput(let name, let known): return "unknown output '\(name)'; \(label) has \(list(known))"
        case .repeatedOutput(let name): return "output '\(name)' is requested more than once; name each output at most once"
        case .answerTooLarge(let values, let rows, let limit):
            return "the response would carry \(values) values (\(rows) rows of \(label)'s requested outputs); "
                + "responses carry at most \(limit): send fewer rows or request fewer outputs"
        }
    }
}

extension Plan {
    /// Checks named inputs and requested outputs (all when none are named) against this plan
    /// and lays the rows out as a `RowBlock`. A request sends `requestInputs`: numeric inputs,
    /// and a model taking raw rows its raw columns, encoded here. With `encodedFeatures` every
    /// input is given as its [rows, width] features instead (tools that encoded a table
    /// themselves, self-tests).
    public func rowBlock(_ given: [NamedInput], outputs requested: [String], limits: RequestLimits,
                         encodedFeatures: Bool = false) throws(InputError) -> RowBlock {
        // No array of names unless one is unknown: this runs on every request.
        for input in given {
            let known = encodedFeatures ? inputs.contains { $0.name == input.name } : requestInputs.contains { $0.name == input.name }
            guard known else { throw .unknownInput(name: input.name, known: encodedFeatures ? inputs.map(\.name) : requestInputs.map(\.name)) }
        }
        var rows: Int?
        var laidOut: [[Float]] = []
        var tallies: [ColumnTally] = []
        for binding in inputs {
            if !binding.columns.isEmpty && !encodedFeatures {
                laidOut.append(try encodeRawRows(binding, given: given, limits: limits, rows: &rows, tallies: &tallies))
                continue
            }
            guard let tensor = given.first(where: { $0.name == binding.name }) else { throw .missingInput(name: binding.name) }
            let width = binding.width
            guard tensor.text == nil else { throw .textForNumbers(input: binding.name, width: width) }
            // No shape: rows from the value count; `[features]`: one row.
            let shape = tensor.shape.isEmpty ? [Int64(tensor.values.count / max(width, 1)), Int64(width)]
                : tensor.shape.count == 1 ? [1] + tensor.shape : tensor.shape
            guard shape.count == 2 else { throw .wrongShape(input: binding.name, shape: shape, width: width) }
            guard shape[1] == Int64(width) else { throw .wrongWidth(input: binding.name, shape: shape, width: width) }
            guard shape[0] > 0 || (shape[0] == 0 && limits.allowsEmptyBatch) else { throw .emptyBatch(input: binding.name) }
            guard shape[0] <= Int64(limits.maxRows) else { throw .tooManyRows(input: binding.name, rows: shape[0], limit: limits.maxRows) }
            let count = Int(shape[0])
            guard tensor.values.count == count * width else {
                throw .wrongValueCount(input: binding.name, values: tensor.values.count, rows: count, width: width)
            }
            if let rows, rows != count { throw .rowCountMismatch(input: binding.name, rows: count, expected: rows) }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                let names = binding.featureNames
                let feature = names.indices.contains(bad % width) ? "'\(names[bad % width])'" : "\(bad % width)"
                throw .notFinite(input: binding.name, row: bad / width, feature: feature, value: tensor.values[bad])
            }
            rows = count
            laidOut.append(tensor.values)
        }
        var chosen: [Int] = []
        for name in requested {
            guard let index = outputs.firstIndex(where: { $0.name == name }) else {
                throw .unknownOutput(name: name, known: outputs.map(\.name))
            }
            // Each repetition would return the whole output again: a small request could ask
            // for an answer thousands of times its size.
            guard !chosen.contains(index) else { throw .repeatedOutput(name: name) }
            chosen.append(index)
        }
        if chosen.isEmpty { chosen = Array(outputs.indices) }
        let total = rows ?? 0
        let values = total * chosen.reduce(0) { $0 + outputs[$1].width }
        guard values <= limits.maxOutputValues else { throw .answerTooLarge(values: values, rows: total, limit: limits.maxOutputValues) }
        return RowBlock(rows: total, inputs: laidOut, outputs: chosen, tallies: tallies)
    }
}

extension Executor {
    /// Runs blocks of rows and returns, per block, its requested outputs as contiguous
    /// row-major arrays. Blocks that fit together in `plan.maxRows` run as one batch; a block
    /// larger than that runs alone in chunks. The pointer work of copying rows in and out of
    /// the arena stays here, next to the arena's layout. `timing` hears each run's rows and
    /// nanoseconds (the server's metrics); it is not optional so that it stays non-escaping and
    /// costs no allocation per batch.
    public func run(_ blocks: [RowBlock], timing: (_ rows: Int, _ nanoseconds: UInt64) -> Void = { _, _ in }) -> [[[Float]]] {
        var results: [[[Float]]] = []
        results.reserveCapacity(blocks.count)
        var batch: [RowBlock] = []
        var batchRows = 0
        func flush() {
            guard !batch.isEmpty else { return }
            results += runTogether(batch, rows: batchRows, timing: timing)
            batch.removeAll(keepingCapacity: true)
            batchRows = 0
        }
        for block in blocks {
            if block.rows > plan.maxRows {
                flush()
                results.append(runChunked(block, timing: timing))
                continue
            }
            if batchRows + block.rows > plan.maxRows { flush() }
            batch.append(block)
            batchRows += block.rows
        }
        flush()
        return results
    }

    /// Blocks whose rows fit in one run: rows copied in one after the other, one run.
    private func runTogether(_ blocks: [RowBlock], rows total: Int, timing: (Int, UInt64) -> Void) -> [[[Float]]] {
        var row = 0
        for block in blocks {
            for (index, values) in block.inputs.enumerated() {
                let (pointer, leadingDimension) = input(index)
                let width = plan.inputs[index].width
                values.withUnsafeBufferPointer { source in
                    for r in 0..<block.rows {
                        (pointer + (row + r) * leadingDimension).update(from: source.baseAddress! + r * width, count: width)
                    }
                }
            }
            row += block.rows
        }
        timed(rows: total, timing)
        row = 0
        return blocks.map { block in
            defer { row += block.rows }
            return block.outputs.map { index in
                let (pointer, leadingDimension) = output(index)
                let width = plan.outputs[index].width
                return [Float](unsafeUninitializedCapacity: block.rows * width) { buffer, count in
                    for r in 0..<block.rows {
                        (buffer.baseAddress! + r * width).initialize(from: pointer + (row + r) * leadingDimension, count: width)
                    }
                    count = block.rows * width
                }
            }
        }
    }

    /// A block larger than a batch, run in chunks of `plan.maxRows`.
    private func runChunked(_ block: RowBlock, timing: (Int, UInt64) -> Void) -> [[Float]] {
        var outputs = block.outputs.map { [Float](repeating: 0, count: block.rows * plan.outputs[$0].width) }
        var start = 0
        while start < block.rows {
            let count = min(plan.maxRows, block.rows - start)
            for (index, values) in block.inputs.enumerated() {
                let width = plan.inputs[index].width
                values.withUnsafeBufferPointer { setInput(index, rows: count, from: $0.baseAddress! + start * width) }
            }
            timed(rows: count, timing)
            for (slot, index) in block.outputs.enumerated() {
                let width = plan.outputs[index].width
                outputs[slot].withUnsafeMutableBufferPointer { copyOutput(index, rows: count, to: $0.baseAddress! + start * width) }
            }
            start += count
        }
        return outputs
    }

    private func timed(rows: Int, _ timing: (Int, UInt64) -> Void) {
        let started = DispatchTime.now().uptimeNanoseconds
        run(rows: rows)
        timing(rows, DispatchTime.now().uptimeNanoseconds - started)
    }
}
