import Foundation

/// What a study's definition must satisfy before any training, and what a resumed study must
/// share with the one stored.
enum StudyDefinitionChecks {
    /// Refuses to continue a study with different inputs or settings: its records would not
    /// mean anything, and reporting the old study as if it were the asked one would mislead.
    static func checkSame(_ stored: StudyDefinition, _ given: StudyDefinition, database: String) throws(TuneError) {
        if given.modelText != stored.modelText {
            throw .studyMismatch(database: database, detail: "the study was made for the base model \(stored.modelFile), not \(given.modelFile) (their texts differ)")
        }
        if given.spaceText != stored.spaceText {
            throw .studyMismatch(database: database, detail: "the study was made for the space \(stored.spaceFile), not \(given.spaceFile) (their texts differ)")
        }
        // Every other field, by its JSON name (file names of equal texts may differ).
        func fields(_ definition: StudyDefinition) -> [String: String] {
            var copy = definition
            (copy.modelFile, copy.spaceFile, copy.modelText, copy.spaceText) = ("", "", "", "")
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            guard let data = try? encoder.encode(copy), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return object.mapValues { value in
                (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
            }
        }
        let (old, new) = (fields(stored), fields(given))
        if let key = Set(old.keys).union(new.keys).sorted().first(where: { old[$0] != new[$0] }) {
            throw .studyMismatch(database: database, detail: "the study was made with \(key) \(old[key] ?? "(none)"), not \(new[key] ?? "(none)"); "
                                 + "continue it with `nntrain tune --resume \(database)` alone, or start another with --study")
        }
    }

    static func validate(_ definition: StudyDefinition) throws(TuneError) {
        guard definition.population >= 2 else {
            throw .invalidSetting(flag: "--population", value: "\(definition.population)", rule: "a population has at least 2 members")
        }
        guard definition.generations >= 1 else {
            throw .invalidSetting(flag: "--generations", value: "\(definition.generations)", rule: "a study runs at least 1 generation")
        }
        guard definition.epochsPerGeneration >= 1 else {
            throw .invalidSetting(flag: "--epochs-per-generation", value: "\(definition.epochsPerGeneration)", rule: "a generation trains at least 1 epoch")
        }
        guard definition.truncation > 0, definition.truncation <= 0.5 else {
            throw .invalidSetting(flag: "--truncation", value: "\(definition.truncation)", rule: "must be in (0, 0.5]")
        }
        guard definition.resample >= 0, definition.resample <= 1 else {
            throw .invalidSetting(flag: "--resample", value: "\(definition.resample)", rule: "must be in [0, 1]")
        }
    }
}
