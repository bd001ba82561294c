import NNCore

/// How a run reads a table: the raw columns of each input that takes raw rows (learned from
/// the training rows at `fit`, kept in the graph after that) and the class names of each head
/// trained on a text target. A run on numbers without gaps learns nothing here and its inputs
/// stay numeric, as before raw tables existed.
public struct TableEncoding: Sendable {
    /// Raw columns by graph input; an input not named here reads its columns as numbers.
    public var columns: [String: [RawColumn]] = [:]
    /// Class names by head.
    public var labels: [String: [String]] = [:]
    /// The graph's input names in order (an embedded input's parts are put back in it).
    var inputOrder: [String] = []

    public init(columns: [String: [RawColumn]] = [:], labels: [String: [String]] = [:]) {
        self.columns = columns
        self.labels = labels
    }

    /// The encoding a trained graph carries.
    public init(graph: Graph) {
        inputOrder = graph.inputs.map(\.name)
        for input in graph.inputs where !input.columns.isEmpty { columns[input.name] = input.columns }
        for output in graph.outputs where !output.labels.isEmpty { labels[output.name] = output.labels }
    }

    /// The number of distinct values past which a categorical column looks like an
    /// identifier (a name, a ticket number) and is worth a warning.
    static let identifierWarningCategories = 50

    /// Learns each input's raw columns from the training `rows` of `table`, and each text
    /// target's class names from every row (a validation row's class must have a name too).
    /// Inputs and heads `kept` names keep its columns and labels.
    static func learn(_ table: CSVTable, spec: ModelSpec, featureColumns: [String: [String]], rows: [Int],
                      keeping kept: TableEncoding = TableEncoding(), warn: (String) -> Void) throws(DataError) -> TableEncoding {
        var encoding = kept
        for input in spec.inputs where kept.columns(of: input.name) == nil {
            let names = featureColumns[input.name]!
            let forced = Set(input.categorical ?? [])
            if let unknown = forced.subtracting(names).sorted().first {
                throw .invalidModel(file: table.file, detail: "input '\(input.name)' lists '\(unknown)' as categorical, but does not read it; it reads \(names.joined(separator: ", "))")
            }
            let columns = try names.map { name throws(DataError) in
                try ColumnLearner(table: table, column: try table.columnIndex(name), rows: rows, input: input)
                    .learn(categorical: forced.contains(name), warn: warn)
            }
            // Numbers without gaps need no encoding: the input stays numeric.
            let raw = zip(columns, names).contains { column, name in
                column.isCategorical || table.hasGaps(column: table.header.firstIndex(of: name)!)
            }
            if raw { encoding.columns[input.name] = columns }
        }
        for head in spec.outputs where kept.labels[head.name] == nil {
            guard [.sparseCategoricalCrossEntropy, .binaryCrossEntropy].contains(head.loss),
                  let target = spec.targets(of: head).first, spec.targets(of: head).count == 1 else { continue }
            let column = try table.columnIndex(target)
            guard let fields = table.text[column] else {
                if head.labels != nil {
                    throw .invalidModel(file: table.file, detail: "output '\(head.name)' names labels, but its target '\(target)' holds numbers (class indices)")
                }
                continue
            }
            let seen = Set(fields.compactMap { $0 })
            let labels = head.labels ?? seen.sorted()
            if let unnamed = seen.subtracting(labels).sorted().first, let row = fields.firstIndex(of: unnamed) {
                throw .unknownLabel(file: table.file, line: table.lines[row], column: target, label: unnamed, labels: labels)
            }
            encoding.labels[head.name] = labels
        }
        return encoding
    }
}

/// Learns one raw column from the training rows: its kind, vocabulary or fill, and profile.
private struct ColumnLearner {
    let table: CSVTable
    let column: Int
    let rows: [Int]
    let input: ModelSpec.Input
    var name: String { table.header[column] }

    /// Inner edges of at most this many bins of equal training mass (drift's histogram).
    static let driftBins = 10
    /// A column whose values are numbers but for this fraction is a numeric column with a
    /// typo, not a categorical one.
    static let numericShare = 0.95

    func learn(categorical: Bool, warn: (String) -> Void) throws(DataError) -> RawColumn {
        guard let fields = table.text[column] else {
            if categorical { return try categories(rows.map { RawValue(number: table.values[$0 * table.header.count + column]) }, warn: warn) }
            return try numeric()
        }
        if !categorical { try refuseStrayText(fields) }
        return try categories(rows.map { fields[$0].map(RawValue.text) ?? .missing }, warn: warn)
    }

    /// Text in a column of numbers is refused with its line: a typo to fix, or a column the
    /// model file should list as categorical.
    private func refuseStrayText(_ fields: [String?]) throws(DataError) {
        var numbers = 0, texts = 0
        var firstText: Int?
        for (row, field) in fields.enumerated() {
            guard let field else { continue }
            if Float(field) != nil { numbers += 1 } else {
                texts += 1
                if firstText == nil { firstText = row }
            }
        }
        guard let row = firstText, Double(numbers) >= Self.numericShare * Double(numbers + texts) else { return }
        throw .unreadable(file: "\(table.file):\(table.lines[row])",
                          detail: "column '\(name)': '\(fields[row]!.prefix(64))' is not a number, yet \(numbers) of its \(numbers + texts) values are; "
                          + "fix the value, leave the field empty for a gap, or list '\(name)' in the input's \"categorical\"")
    }

    private func numeric() throws(DataError) -> RawColumn {
        let width = table.header.count
        var present: [Float] = []
        present.reserveCapacity(rows.count)
        for row in rows {
            let value = table.values[row * width + column]
            if !value.isNaN { present.append(value) }
        }
        guard !present.isEmpty else {
            throw .unreadable(file: table.file, detail: "column '\(name)' has no value in the \(rows.count) training rows")
        }
        let mean = present.reduce(0.0) { $0 + Double($1) } / Double(present.count)
        let variance = present.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(present.count)
        present.sort()
        var edges: [Float] = []
        for bin in 1..<Self.driftBins {
            let edge = present[min(present.count - 1, bin * present.count / Self.driftBins)]
            if edge > present[0], edge != edges.last { edges.append(edge) }
        }
        var counts = [Int](repeating: 0, count: edges.count + 1)
        var profile = ColumnProfile(rows: rows.count, missingRate: Float(rows.count - present.count) / Float(rows.count),
                                    minimum: present[0], maximum: present[present.count - 1], mean: Float(mean),
                                    std: Float(variance.squareRoot()), edges: edges)
        for value in present { counts[profile.bin(of: value)] += 1 }
        profile.fractions = counts.map { Float($0) / Float(present.count) }
        // Gaps anywhere in the file (a validation row's too) make the column one with gaps.
        let indicates = table.hasGaps(column: column) && input.missingIndicator != false
        return RawColumn(name: name, kind: .numeric(.init(fill: Float(mean), indicatesMissing: indicates)), profile: profile)
    }

    private func categories(_ values: [RawValue], warn: (String) -> Void) throws(DataError) -> RawColumn {
        var counts: [String: Int] = [:]
        var missing = 0
        for (slot, value) in values.enumerated() {
            let category: String
            switch value {
            case .missing:
                missing += 1
                continue
            case .number(let number): category = RawValue.categoryText(of: number)
            case .text(let text):
                // The text as written is what is bounded, as a server bounds a request's.
                guard text.utf8.count <= Categories.maximumBytes else {
                    throw .unreadable(file: "\(table.file):\(table.lines[rows[slot]])",
                                      detail: "column '\(name)': a category of \(text.utf8.count) bytes; categories are at most \(Categories.maximumBytes) bytes")
                }
                category = RawValue.category(text)
            }
            let line = table.lines[rows[slot]]
            counts[category, default: 0] += 1
            guard counts.count <= Categories.maximumVocabulary else {
                throw .unreadable(file: "\(table.file):\(line)", detail: "column '\(name)' has more than \(Categories.maximumVocabulary) distinct values by this line; "
                                  + "a column that varied is not a category: leave it out of the input's columns")
            }
        }
        let maxCategories = input.maxCategories ?? 100
        let minFrequency = input.minFrequency ?? 1
        guard maxCategories >= 1, minFrequency >= 1 else {
            throw .invalidModel(file: table.file, detail: "input '\(input.name)': max_categories and min_frequency must be at least 1")
        }
        let ranked = counts.filter { $0.value >= minFrequency }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        let vocabulary = ranked.prefix(maxCategories).map(\.key)
        let present = values.count - missing
        let kept = vocabulary.reduce(0) { $0 + counts[$1]! }
        if counts.count > TableEncoding.identifierWarningCategories, counts.count * 2 > present {
            warn("column '\(name)' has \(counts.count) distinct values in \(present) training rows: it looks like an identifier, not a category; "
                 + "leave it out of the input's \"columns\"")
        }
        let categories = Categories(vocabulary: vocabulary, hasOther: kept < present, hasMissing: missing >= minFrequency)
        guard categories.width > 0 else {
            throw .unreadable(file: table.file, detail: "column '\(name)' has no value in the \(rows.count) training rows")
        }
        var fractions = vocabulary.map { Float(counts[$0]!) / Float(max(present, 1)) }
        fractions.append(Float(present - kept) / Float(max(present, 1)))
        let profile = ColumnProfile(rows: values.count, missingRate: Float(missing) / Float(max(values.count, 1)), fractions: fractions)
        return RawColumn(name: name, kind: .categorical(categories), profile: profile)
    }
}

extension TableEncoding {
    /// The raw columns of a model file's input: as learned, or put back together from the
    /// parts `EmbeddingExpansion` split it into (a run started from another's graph).
    func columns(of input: String) -> [RawColumn]? {
        if let columns = columns[input] { return columns }
        let parts = inputOrder.filter { $0 == EmbeddingExpansion.featuresName(of: input) || $0.hasPrefix(input + "#") }
        guard !parts.isEmpty else { return nil }
        return parts.flatMap { columns[$0] ?? [] }
    }

    /// Standardization of raw columns' features: numbers as measured, 0/1 features (one-hot
    /// slots, "was missing") left as they are — a rare category's slot would otherwise be
    /// scaled to tens when it is set.
    static func standardization(_ measured: Standardization, leavingIndicatorsOf columns: [RawColumn]) -> Standardization {
        var result = measured
        var feature = 0
        for column in columns {
            let first = column.isCategorical ? feature : feature + 1
            for indicator in first..<(feature + column.width) {
                result.mean[indicator] = 0
                result.std[indicator] = 1
            }
            feature += column.width
        }
        return result
    }

    /// The features of `input` for every row of `table`, [rows, width], from its raw columns.
    func features(of input: String, columns: [RawColumn], table: CSVTable) throws(DataError) -> Tensor {
        let indices = try columns.map { column throws(DataError) in try table.columnIndex(column.name) }
        let width = columns.reduce(0) { $0 + $1.width }
        var values = [Float](repeating: 0, count: table.rowCount * width)
        var failure: DataError?
        values.withUnsafeMutableBufferPointer { buffer in
            for row in 0..<table.rowCount {
                var offset = row * width
                for (column, index) in zip(columns, indices) {
                    do {
                        _ = try column.encode(table.rawValue(row: row, column: index), into: buffer.baseAddress! + offset)
                    } catch {
                        failure = .unreadable(file: "\(table.file):\(table.lines[row])", detail: "\(error)")
                        return
                    }
                    offset += column.width
                }
            }
        }
        if let failure { throw failure }
        return Tensor(shape: [table.rowCount, width], values: values)
    }

    /// A head's targets, [rows, 1]: class indices of its text labels.
    func classIndices(of head: String, labels: [String], column: String, table: CSVTable) throws(DataError) -> Tensor {
        let index = try table.columnIndex(column)
        let slots = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, Float($0)) })
        var values: [Float] = []
        values.reserveCapacity(table.rowCount)
        for row in 0..<table.rowCount {
            let written: String? = if let fields = table.text[index] { fields[row] } else {
                table.values[row * table.header.count + index].isNaN ? nil : RawValue.categoryText(of: table.values[row * table.header.count + index])
            }
            guard let written else { throw .missingValue(file: table.file, line: table.lines[row], column: column) }
            guard let slot = slots[written] else {
                throw .unknownLabel(file: table.file, line: table.lines[row], column: column, label: written, labels: labels)
            }
            values.append(slot)
        }
        return Tensor(shape: [table.rowCount, 1], values: values)
    }
}
