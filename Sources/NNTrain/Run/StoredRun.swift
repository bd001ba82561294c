import Foundation
import NNFormat

/// How a run describes itself in a checkpoint's `TrainingState`, beside its weights and
/// optimizer state: the model file (`modelConfig`, pretty JSON), the settings
/// (`settings["training"]`, JSON with sorted keys) and the sweep that chose its rate
/// (`settings["lr_find"]`). The layout is the one checkpoints have always had (old files
/// open, same runs write the same bytes); this is its one reader and writer.
extension TrainingState {
    static let trainingSettingsKey = "training"
    static let rateSweepKey = "lr_find"

    /// The model file the run was started from.
    public func modelSpec() throws(DataError) -> ModelSpec {
        try ModelSpec.decode(json: Data(modelConfig.utf8), file: "checkpoint model config")
    }

    /// The run's settings, as `fit` stored them.
    public func trainingSettings() throws(DataError) -> TrainingSettings {
        guard let json = settings[Self.trainingSettingsKey] else {
            throw .invalidModel(file: "checkpoint settings", detail: "the checkpoint stores no training settings (not written by nntrain?)")
        }
        do {
            return try JSONDecoder().decode(TrainingSettings.self, from: Data(json.utf8))
        } catch {
            throw .invalidModel(file: "checkpoint settings", detail: "\(error)")
        }
    }

    /// The settings as stored, for display.
    public var trainingSettingsText: String { settings[Self.trainingSettingsKey] ?? "{}" }

    /// The learning-rate sweep that chose the run's rate (`fit --lr auto`), if one did.
    public var rateSweep: LearningRateFinder.Record? {
        settings[Self.rateSweepKey].flatMap { text in
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try? decoder.decode(LearningRateFinder.Record.self, from: Data(text.utf8))
        }
    }

    public mutating func store(spec: ModelSpec) throws {
        modelConfig = String(decoding: try spec.encodedJSON(), as: UTF8.self)
    }

    public mutating func store(settings run: TrainingSettings) throws {
        settings[Self.trainingSettingsKey] = String(decoding: try Self.sortedKeys.encode(run), as: UTF8.self)
    }

    mutating func store(rateSweep: LearningRateFinder.Record?) {
        guard let rateSweep else { return }
        // A diverged trial's loss is +∞, which plain JSON cannot hold: spelled "inf".
        let encoder = Self.sortedKeys
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let json = try? encoder.encode(rateSweep) else { return }
        settings[Self.rateSweepKey] = String(decoding: json, as: UTF8.self)
    }

    private static var sortedKeys: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }
}
