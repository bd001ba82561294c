import Foundation
import NNCore
import NNTrain

/// One hyperparameter's value: a number (rates, sizes, counts) or a name (activation, optimizer).
public enum HyperValue: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case number(Double)
    case text(String)

    public var number: Double? { if case .number(let value) = self { value } else { nil } }
    public var text: String? { if case .text(let value) = self { value } else { nil } }

    public var description: String {
        switch self {
        case .number(let value): value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(format: "%.4g", value)
        case .text(let value): value
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        }
    }
}

/// A member's hyperparameters, by name ("learning_rate", "units", "units.hidden2", …).
public typealias Hyperparameters = [String: HyperValue]

/// Where a study looks: per hyperparameter a distribution, applied to a base model file.
///
///     {"learning_rate": {"log_uniform": [1e-4, 3e-2]},
///      "batch_size":    {"choice": [16, 32, 64, 128]},
///      "dropout":       {"uniform": [0.0, 0.5]},
///      "units":         {"choice": [32, 64, 128]},
///      "layers":        {"choice": [1, 2, 3]},
///      "activation":    {"choice": ["relu", "elu", "selu"]}}
///
/// `units` gives every hidden dense layer one width, `units.<layer>` one layer its own;
/// `layers` keeps the first N hidden blocks of a sequential model (a hidden dense layer and the
/// layers after it up to the next) or repeats its last block. Learning rate, batch size,
/// dropout, L2 and momentum may change during population based training; the rest set a
/// member's shape and stay.
public struct SearchSpace: Sendable, Equatable {
    public enum Distribution: Sendable, Equatable {
        case logUniform(low: Double, high: Double)
        case uniform(low: Double, high: Double)
        case choice([HyperValue])
    }

    /// Sorted by name: sampling draws in this order, so a seed gives the same members.
    public private(set) var parameters: [(name: String, distribution: Distribution)]

    /// The names PBT's explore may change (`Hyperparameter.isMutable`).
    public static let mutable = Set(Hyperparameter.allCases.filter(\.isMutable).map(\.rawValue))

    public static func == (lhs: SearchSpace, rhs: SearchSpace) -> Bool {
        lhs.parameters.map(\.name) == rhs.parameters.map(\.name) && lhs.parameters.map(\.distribution) == rhs.parameters.map(\.distribution)
    }

    public func distribution(of name: String) -> Distribution? { parameters.first { $0.name == name }?.distribution }

    /// Reads and checks a space file: known names (`units.<layer>` included), one distribution
    /// each, non-empty ordered ranges, values of the right kind.
    public static func decode(json data: Data, file: String) throws(TuneError) -> SearchSpace {
        if let syntax = JSONSyntax.error(in: data) { throw .invalidSpace(file: file, detail: syntax) }
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidSpace(file: file, detail: "not a JSON object of hyperparameters")
        }
        let known = Hyperparameter.spellings
        guard !top.isEmpty else { throw .invalidSpace(file: file, detail: "names no hyperparameter (\(known.joined(separator: ", ")))") }
        var parameters: [(String, Distribution)] = []
        for name in top.keys.sorted() {
            guard let base = Hyperparameter(key: name) else {
                let nearest = Spelling.nearest(to: name, in: known)
                throw .invalidSpace(file: file, detail: "unknown hyperparameter '\(name)' (did you mean '\(nearest)'?); a space has \(known.joined(separator: ", ")), units.<layer>")
            }
            guard let entry = top[name] as? [String: Any], entry.count == 1, let (kind, value) = entry.first else {
                throw .invalidSpace(file: file, detail: "'\(name)' needs exactly one of log_uniform, uniform, choice, e.g. {\"choice\": [32, 64]}")
            }
            parameters.append((name, try distribution(kind, value, name: base, key: name, file: file)))
        }
        return SearchSpace(parameters: parameters)
    }

    private static func distribution(_ kind: String, _ value: Any, name: Hyperparameter, key: String, file: String) throws(TuneError) -> Distribution {
        func fail(_ detail: String) -> TuneError { .invalidSpace(file: file, detail: "'\(key)': \(detail)") }
        switch kind {
        case "log_uniform", "uniform":
            guard name.isContinuous else {
                throw fail("\(kind) is for continuous hyperparameters; \(name) takes {\"choice\": [...]}")
            }
            guard let range = value as? [Any], range.count == 2, let low = (range[0] as? NSNumber)?.doubleValue,
                  let high = (range[1] as? NSNumber)?.doubleValue, low.isFinite, high.isFinite else {
                throw fail("\(kind) takes [low, high], two numbers")
            }
            guard low < high else { throw fail("the range [\(low), \(high)] is \(low == high ? "empty" : "inverted"); low must be below high") }
            if kind == "log_uniform", low <= 0 { throw fail("log_uniform needs low > 0, got \(low)") }
            let bounds = name.bounds
            guard low >= bounds.low, high <= bounds.high else { throw fail("[\(low), \(high)] leaves [\(bounds.low), \(bounds.high)]") }
            return kind == "log_uniform" ? .logUniform(low: low, high: high) : .uniform(low: low, high: high)
        case "choice":
            guard let options = value as? [Any], !options.isEmpty else { throw fail("choice takes a non-empty list") }
            var values: [HyperValue] = []
            for option in options {
                if let allowed = name.names {
                    guard let text = option as? String, allowed.contains(text) else {
                        throw fail("'\(describe(option))' is not one of \(allowed.joined(separator: ", "))")
                    }
                    values.append(.text(text))
                } else if let most = name.mostWholeNumber {
                    // Bounded so a typo cannot ask for an impossible network (or trap converting to Int).
                    guard !isBoolean(option), let number = (option as? NSNumber)?.doubleValue, number >= 1, number == number.rounded() else {
                        throw fail("\(describe(option)) is not a whole number of at least 1")
                    }
                    guard number <= most else { throw fail("\(describe(option)) is more than \(Int(most))") }
                    values.append(.number(number))
                } else {
                    guard !isBoolean(option), let number = (option as? NSNumber)?.doubleValue, number.isFinite, number >= 0 else {
                        throw fail("\(describe(option)) is not a number of at least 0")
                    }
                    values.append(.number(number))
                }
            }
            guard Set(values).count == values.count else { throw fail("choice lists a value twice") }
            return .choice(name.names != nil ? values : values.sorted { $0.number! < $1.number! })
        default:
            throw fail("unknown distribution '\(kind)' (log_uniform, uniform, choice)")
        }
    }

    /// JSON's true and false arrive as numbers that are 1 and 0; they are not sizes or rates.
    private static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    private static func describe(_ value: Any) -> String {
        isBoolean(value) ? ((value as? NSNumber)?.boolValue == true ? "true" : "false") : "\(value)"
    }

    /// A member drawn from the space.
    public func sample(_ rng: inout CounterRNG) -> Hyperparameters {
        var values: Hyperparameters = [:]
        for (name, distribution) in parameters { values[name] = Self.draw(distribution, &rng) }
        return values
    }

    private static func draw(_ distribution: Distribution, _ rng: inout CounterRNG) -> HyperValue {
        let u = rng.nextOpenUniform()
        switch distribution {
        case .logUniform(let low, let high): return .number(exp(log(low) + u * (log(high) - log(low))))
        case .uniform(let low, let high): return .number(low + u * (high - low))
        case .choice(let options): return options[min(Int(u * Double(options.count)), options.count - 1)]
        }
    }

    /// PBT's explore step (Jaderberg et al. 2017): each mutable hyperparameter is resampled
    /// with probability `resample`, else multiplied by 0.8 or 1.2 (a choice moves to the
    /// neighbouring option), kept within its range.
    public func explore(_ values: Hyperparameters, rng: inout CounterRNG, resample: Double) -> Hyperparameters {
        var explored = values
        for (name, distribution) in parameters where Self.mutable.contains(name) {
            let resampled = Double(rng.nextOpenUniform()) < resample
            let up = rng.nextOpenUniform() >= 0.5
            guard !resampled else {
                explored[name] = Self.draw(distribution, &rng)
                continue
            }
            switch (distribution, values[name]) {
            case (.logUniform(let low, let high), .number(let value)?), (.uniform(let low, let high), .number(let value)?):
                explored[name] = .number(min(max(value * (up ? 1.2 : 0.8), low), high))
            case (.choice(let options), let value?):
                let index = options.firstIndex(of: value) ?? 0
                explored[name] = options[min(max(index + (up ? 1 : -1), 0), options.count - 1)]
            default:
                break
            }
        }
        return explored
    }
}
