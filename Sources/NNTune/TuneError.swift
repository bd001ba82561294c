/// Why a study cannot start or continue; every case names the value and where it came from.
public enum TuneError: Error, Equatable, CustomStringConvertible {
    /// The search space file: an unknown hyperparameter, an empty or inverted range, …
    case invalidSpace(file: String, detail: String)
    /// A setting of the study itself (`--population 1`, an unreported `--monitor`).
    case invalidSetting(flag: String, value: String, rule: String)
    /// `--resume` with a database made for another base model, space or data.
    case studyMismatch(database: String, detail: String)
    case database(path: String, detail: String)

    public var description: String {
        switch self {
        case .invalidSpace(let file, let detail): "\(file): \(detail)"
        case .invalidSetting(let flag, let value, let rule): "\(flag) \(value): \(rule)"
        case .studyMismatch(let database, let detail): "\(database): \(detail)"
        case .database(let path, let detail): "\(path): \(detail)"
        }
    }
}
