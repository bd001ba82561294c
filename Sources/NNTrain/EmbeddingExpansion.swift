import Foundation
import NNCore

/// Learned embeddings of categorical columns, as plain graph pieces: an embedded column is an
/// input of its own (its one-hot slots) read by a linear Dense of `dimension` units — one-hot
/// times a weight matrix is a row lookup, learned with the model — and the input the model
/// file named becomes a concat of its remaining columns and the embeddings. The expanded spec
/// is an ordinary spec (it is what the checkpoint keeps), so resume, export and serving need
/// nothing new: the server encodes the embedded column's one-hot as for any other.
enum EmbeddingExpansion {
    /// Categorical columns with more categories than this are embedded unless the model file
    /// says otherwise (`embedding_above`): a one-hot that wide mostly feeds the first layer
    /// thousands of zero features.
    static let defaultEmbeddingAbove = 50

    /// fastai's rule of thumb, min(600, round(1.6 · n^0.56)), capped lower for the small
    /// networks nntrain trains: 8 categories → 5, 100 → 21, 1000 → 50.
    static func dimension(categories: Int) -> Int {
        min(50, max(2, Int((1.6 * pow(Double(categories), 0.56)).rounded())))
    }

    /// The graph input holding an input's columns that are not embedded, and the one of an
    /// embedded column.
    static func featuresName(of input: String) -> String { "\(input)#features" }
    static func inputName(of input: String, column: String) -> String { "\(input)#\(column)" }
    static func layerName(of input: String, column: String) -> String { "\(input)#\(column)/embedding" }

    /// `spec` and `encoding` with every embedded column split out; unchanged when nothing is
    /// embedded (every run before embeddings existed).
    static func expand(_ spec: ModelSpec, _ encoding: TableEncoding, file: String) throws(DataError) -> (ModelSpec, TableEncoding) {
        var expanded = spec
        var result = encoding
        var inputs: [ModelSpec.Input] = []
        var prepended: [ModelSpec.Layer] = []
        for input in spec.inputs {
            guard let columns = encoding.columns(of: input.name) else {
                if let asked = input.embeddings?.keys.sorted().first {
                    throw .invalidModel(file: file, detail: "input '\(input.name)' embeds '\(asked)', but reads numbers only; only a categorical column has an embedding")
                }
                inputs.append(input)
                continue
            }
            for (name, dimension) in (input.embeddings ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let column = columns.first(where: { $0.name == name }), column.isCategorical else {
                    throw .invalidModel(file: file, detail: "input '\(input.name)' embeds '\(name)', which is not one of its categorical columns "
                                        + "(\(columns.filter(\.isCategorical).map(\.name).joined(separator: ", ")))")
                }
                guard dimension > 0 else { throw .invalidModel(file: file, detail: "input '\(input.name)': the embedding of '\(name)' needs a positive dimension, got \(dimension)") }
            }
            let above = input.embeddingAbove ?? defaultEmbeddingAbove
            let embedded = columns.compactMap { column -> (RawColumn, Int)? in
                guard case .categorical(let categories) = column.kind else { return nil }
                if let asked = input.embeddings?[column.name] { return (column, asked) }
                return categories.vocabulary.count > above ? (column, dimension(categories: categories.vocabulary.count)) : nil
            }
            for part in result.columns.keys where part.hasPrefix(input.name + "#") { result.columns[part] = nil }
            guard !embedded.isEmpty else {
                result.columns[input.name] = columns
                inputs.append(input)
                continue
            }
            result.columns[input.name] = nil
            let plain = columns.filter { column in !embedded.contains { $0.0.name == column.name } }
            var parts: [String] = []
            if !plain.isEmpty {
                let name = featuresName(of: input.name)
                var features = ModelSpec.Input(name: name, columns: plain.map(\.name), standardize: input.standardize)
                features.missingIndicator = input.missingIndicator
                inputs.append(features)
                result.columns[name] = plain
                parts.append(name)
            }
            for (column, dimension) in embedded {
                let name = inputName(of: input.name, column: column.name)
                inputs.append(ModelSpec.Input(name: name, columns: [column.name], standardize: false))
                result.columns[name] = [column]
                let layer = layerName(of: input.name, column: column.name)
                prepended.append(ModelSpec.Layer(name: layer, type: .dense, inputs: [name], units: dimension))
                parts.append(layer)
            }
            // The name the model file's layers read: now the concat of the parts.
            prepended.append(ModelSpec.Layer(name: input.name, type: .concat, inputs: parts))
        }
        expanded.inputs = inputs
        expanded.layers = prepended + spec.layers
        return (expanded, result)
    }
}
