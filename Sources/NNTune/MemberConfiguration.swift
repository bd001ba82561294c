import Foundation
import NNCore
import NNTrain

/// What a member's hyperparameters make of the base model file and the base settings.
///
/// Shapes (`units`, `units.<layer>`, `layers`, `activation`) edit the model file before the
/// member's first epoch; `dropout` and `l2` edit its layers' rates; the rest are settings.
public enum MemberConfiguration {
    /// The base model's hidden dense layers (dense, and not read by a head), in order.
    static func hiddenDense(_ spec: ModelSpec) -> [String] {
        let heads = Set(spec.outputs.map(\.node))
        return spec.layers.filter { $0.type == .dense && !heads.contains($0.name) }.map(\.name)
    }

    /// Refuses a space the base model cannot take, before any training: `layers` on a model
    /// that branches, `units.x` for a layer that is not hidden dense, `dropout` without a
    /// dropout layer.
    public static func check(_ space: SearchSpace, base spec: ModelSpec, spaceFile: String, modelFile: String) throws(TuneError) {
        let hidden = hiddenDense(spec)
        for (name, distribution) in space.parameters {
            if name.hasPrefix("units.") {
                let layer = String(name.dropFirst("units.".count))
                guard hidden.contains(layer) else {
                    throw .invalidSpace(file: spaceFile, detail: "'\(name)': \(modelFile) has no hidden dense layer '\(layer)' (it has \(hidden.joined(separator: ", ")))")
                }
            }
            let parameter = Hyperparameter(key: name)
            if parameter == .units || parameter == .activation, hidden.isEmpty {
                throw .invalidSpace(file: spaceFile, detail: "'\(name)': \(modelFile) has no hidden dense layer")
            }
            if parameter == .dropout, !spec.layers.contains(where: { $0.type.dropsUnits }) {
                throw .invalidSpace(file: spaceFile, detail: "'dropout': \(modelFile) has no dropout layer to set the rate of")
            }
            if parameter == .layers {
                if let reason = sequentialProblem(spec) {
                    throw .invalidSpace(file: spaceFile, detail: "'layers' repeats or drops blocks of a sequential model; \(modelFile) \(reason)")
                }
                if case .choice(let options) = distribution, hidden.isEmpty, options.contains(where: { ($0.number ?? 0) > 0 }) {
                    throw .invalidSpace(file: spaceFile, detail: "'layers': \(modelFile) has no hidden dense layer to repeat")
                }
            }
        }
    }

    /// Nil when every layer reads the one before it (the first reads the one input).
    private static func sequentialProblem(_ spec: ModelSpec) -> String? {
        guard spec.inputs.count == 1 else { return "has \(spec.inputs.count) inputs" }
        var previous = spec.inputs[0].name
        for layer in spec.layers {
            guard layer.inputs == [previous] else { return "branches at '\(layer.name)' (it reads \(layer.inputs.joined(separator: ", ")), not '\(previous)')" }
            previous = layer.name
        }
        return nil
    }

    /// The base model with the member's shape and rates.
    public static func model(_ base: ModelSpec, _ values: Hyperparameters) -> ModelSpec {
        var spec = base
        if let layers = values[.layers]?.number { spec = withHiddenBlocks(spec, count: Int(layers)) }
        let hidden = Set(hiddenDense(spec))
        for index in spec.layers.indices {
            let layer = spec.layers[index]
            if hidden.contains(layer.name) {
                let original = layer.name.split(separator: "_rep").first.map(String.init) ?? layer.name
                if let units = (values["units.\(original)"] ?? values[.units])?.number { spec.layers[index].units = Int(units) }
                if let activation = values[.activation]?.text, (layer.activation ?? "linear") != "linear" { spec.layers[index].activation = activation }
            }
            if layer.type == .activation, let activation = values[.activation]?.text { spec.layers[index].activation = activation }
            if layer.type == .dense, let l2 = values[.l2]?.number { spec.layers[index].l2 = Float(l2) }
            if layer.type.dropsUnits, let rate = values[.dropout]?.number { spec.layers[index].rate = Float(rate) }
        }
        return spec
    }

    /// The base settings with the member's rate, batch size, momentum and optimizer.
    public static func settings(_ base: TrainingSettings, _ values: Hyperparameters) -> TrainingSettings {
        var settings = base
        if let rate = values[.learningRate]?.number { settings.learningRate = Float(rate) }
        if let size = values[.batchSize]?.number { settings.batchSize = Int(size) }
        if let momentum = values[.momentum]?.number { settings.momentum = Float(momentum) }
        // The space file was checked against OptimizerKind when it was read.
        if let optimizer = values[.optimizer]?.text.flatMap(OptimizerKind.init(rawValue:)) { settings.optimizer = optimizer }
        return settings
    }

    /// A sequential model with `count` hidden blocks: the first `count` of the base's, or its
    /// last block repeated (layers renamed `<name>_rep2`, `_rep3`, …).
    static func withHiddenBlocks(_ spec: ModelSpec, count: Int) -> ModelSpec {
        let heads = Set(spec.outputs.map(\.node))
        let starts = spec.layers.indices.filter { spec.layers[$0].type == .dense && !heads.contains(spec.layers[$0].name) }
        guard let lastStart = starts.last else { return spec }
        let tailStart = spec.layers.indices.first { $0 > lastStart && spec.layers[$0].type == .dense } ?? spec.layers.count
        var blocks = zip(starts, starts.dropFirst().map { $0 } + [tailStart]).map { Array(spec.layers[$0..<$1]) }
        let head = Array(spec.layers[..<starts[0]]), tail = Array(spec.layers[tailStart...])
        if count < blocks.count {
            blocks = Array(blocks.prefix(max(count, 0)))
        } else {
            let template = blocks.last!
            for repetition in stride(from: 2, through: count - blocks.count + 1, by: 1) {
                blocks.append(template.map { layer in
                    var copy = layer
                    copy.name = "\(layer.name)_rep\(repetition)"
                    return copy
                })
            }
        }
        // Rewire in order: each layer reads the one before it.
        var layers = head + blocks.flatMap { $0 } + tail
        var previous = spec.inputs[0].name
        for index in layers.indices {
            layers[index].inputs = [previous]
            previous = layers[index].name
        }
        var edited = spec
        edited.layers = layers
        return edited
    }
}
