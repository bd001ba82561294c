import NNCore

/// Inputs and targets of a set of rows, as the trainer feeds them.
public struct TrainingData: Sendable {
    /// Raw (unstandardized) features per graph input, [rows, width].
    public var inputs: [String: Tensor]
    /// Targets per head, [rows, target columns].
    public var targets: [String: Tensor]
    public var rows: Int
    /// Per-row loss weights [rows, 1] (the spec's sample-weight column), nil = all 1.
    public var sampleWeights: Tensor?

    public init(inputs: [String: Tensor], targets: [String: Tensor], rows: Int, sampleWeights: Tensor? = nil) {
        self.inputs = inputs
        self.targets = targets
        self.rows = rows
        self.sampleWeights = sampleWeights
    }

    public func subset(_ indices: ArraySlice<Int>) -> TrainingData {
        TrainingData(inputs: inputs.mapValues { $0.gatheringRows(indices) },
                     targets: targets.mapValues { $0.gatheringRows(indices) }, rows: indices.count,
                     sampleWeights: sampleWeights?.gatheringRows(indices))
    }

    /// The columns each input of `spec` reads from `table`: those it lists, or every column
    /// that is neither a target nor the sample-weight column (and starts with its prefix).
    /// Every listed column and target must be in the file (all missing ones are named at once).
    public static func featureColumns(of spec: ModelSpec, in table: CSVTable) throws(DataError) -> [String: [String]] {
        let targetColumns = Set(spec.outputs.flatMap(spec.targets(of:)) + [spec.sampleWeightColumn].compactMap { $0 })
        try table.requireColumns(spec.inputs.flatMap { $0.columns ?? [] } + spec.outputs.flatMap(spec.targets(of:)))
        var featureColumns: [String: [String]] = [:]
        for input in spec.inputs {
            let columns = input.columns ?? table.header.filter { !targetColumns.contains($0) && $0.hasPrefix(input.columnPrefix ?? "") }
            guard !columns.isEmpty else {
                throw .unreadable(file: table.file, detail: "input '\(input.name)': no feature column"
                                  + (input.columnPrefix.map { " starts with '\($0)'" } ?? "") + "; columns are \(table.header.joined(separator: ", "))")
            }
            featureColumns[input.name] = columns
        }
        return featureColumns
    }

    /// Reads the columns a spec names from a table: inputs (numbers, or raw columns encoded
    /// by `encoding`), each head's targets (class indices of its labels when it has them), and
    /// the sample weights when the table has their column (metrics do not need them).
    public static func from(_ table: CSVTable, spec: ModelSpec, encoding: TableEncoding = TableEncoding()) throws(DataError) -> (TrainingData, featureColumns: [String: [String]]) {
        let featureColumns = try featureColumns(of: spec, in: table)
        var inputs: [String: Tensor] = [:]
        for input in spec.inputs {
            let columns = featureColumns[input.name]!
            if let raw = encoding.columns[input.name] {
                inputs[input.name] = try encoding.features(of: input.name, columns: raw, table: table)
            } else {
                let (values, _) = try table.matrix(columns: columns)
                inputs[input.name] = Tensor(shape: [table.rowCount, columns.count], values: values)
            }
        }
        var targets: [String: Tensor] = [:]
        for head in spec.outputs {
            let columns = spec.targets(of: head)
            if let labels = encoding.labels[head.name] {
                targets[head.name] = try encoding.classIndices(of: head.name, labels: labels, column: columns[0], table: table)
                continue
            }
            let (values, _) = try table.matrix(columns: columns)
            targets[head.name] = Tensor(shape: [table.rowCount, columns.count], values: values)
        }
        var sampleWeights: Tensor?
        if let column = spec.sampleWeightColumn, table.header.contains(column) {
            let (values, _) = try table.matrix(columns: [column])
            if let line = values.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
                throw .unreadable(file: "\(table.file):\(line + 2)", detail: "column '\(column)': sample weight \(values[line]) is not a finite number of 0 or more")
            }
            sampleWeights = Tensor(shape: [table.rowCount, 1], values: values)
        }
        return (TrainingData(inputs: inputs, targets: targets, rows: table.rowCount, sampleWeights: sampleWeights), featureColumns)
    }

    /// A seeded split: row indices for training and validation.
    public static func split(rows: Int, validationFraction: Double, seed: UInt64) -> (training: [Int], validation: [Int]) {
        var order = Array(0..<rows)
        var rng = CounterRNG(seed: seed, stream: 0x5911_7)
        shuffle(&order, rng: &rng)
        let validationCount = Int((Double(rows) * validationFraction).rounded())
        return (Array(order[validationCount...]), Array(order[..<validationCount]))
    }

    /// Fisher-Yates with the counter-based generator (Swift's shuffle may change across versions).
    public static func shuffle(_ values: inout [Int], rng: inout CounterRNG) {
        guard values.count > 1 else { return }
        for index in stride(from: values.count - 1, to: 0, by: -1) {
            let other = Int(rng.next() % UInt64(index + 1))
            values.swapAt(index, other)
        }
    }

    /// Per-column mean and standard deviation (constant columns get std 1, so they pass through centered).
    public static func standardization(of tensor: Tensor) -> Standardization {
        let rows = tensor.rows, width = tensor.columns
        var mean = [Double](repeating: 0, count: width), variance = [Double](repeating: 0, count: width)
        tensor.withUnsafeBufferPointer { x in
            for index in 0..<rows * width { mean[index % width] += Double(x[index]) }
            for j in 0..<width { mean[j] /= Double(max(rows, 1)) }
            for index in 0..<rows * width {
                let d = Double(x[index]) - mean[index % width]
                variance[index % width] += d * d
            }
        }
        let std = variance.map { ($0 / Double(max(rows, 1))).squareRoot() }
        return Standardization(mean: mean.map { Float($0) }, std: std.map { $0 > 1e-12 ? Float($0) : 1 })
    }
}
