import Foundation
import NNCore
import NNTrain

/// What a study is: everything `nntrain tune --resume` needs to continue it, kept in its store.
public struct StudyDefinition: Codable, Equatable, Sendable {
    public enum Algorithm: String, Spelled {
        public static let noun = "algorithm"
        /// Population based training: exploit and explore between generations.
        case pbt
        /// Random search: the same members and budget, no exploit.
        case random
    }

    public var algorithm: Algorithm
    public var population: Int
    public var generations: Int
    public var epochsPerGeneration: Int
    /// The validation metric members are ranked by ("val_accuracy", "val_rmse", …).
    public var monitor: String
    public var seed: UInt64
    /// Share of the population in the bottom (replaced) and top (copied) groups.
    public var truncation = 0.2
    /// Probability that explore resamples a hyperparameter instead of perturbing it.
    public var resample = 0.25
    public var modelFile: String
    public var modelText: String
    public var spaceFile: String
    public var spaceText: String
    public var dataFile: String
    public var validationFile: String?
    public var target: [String]?
    /// The run settings members start from (the space overrides some).
    public var settings: TrainingSettings

    public init(algorithm: Algorithm, population: Int, generations: Int, epochsPerGeneration: Int, monitor: String, seed: UInt64,
                modelFile: String, modelText: String, spaceFile: String, spaceText: String, dataFile: String,
                validationFile: String? = nil, target: [String]? = nil, settings: TrainingSettings) {
        self.algorithm = algorithm
        self.population = population
        self.generations = generations
        self.epochsPerGeneration = epochsPerGeneration
        self.monitor = monitor
        self.seed = seed
        self.modelFile = modelFile
        self.modelText = modelText
        self.spaceFile = spaceFile
        self.spaceText = spaceText
        self.dataFile = dataFile
        self.validationFile = validationFile
        self.target = target
        self.settings = settings
    }

    /// Total training epochs the study spends (the budget random search is compared at).
    public var epochBudget: Int { population * generations * epochsPerGeneration }
}

/// One member in one generation: the hyperparameters it trained with, its metrics at the
/// generation's end, and what PBT did with it afterwards.
public struct MemberRecord: Codable, Equatable, Sendable {
    public var generation: Int
    public var member: Int
    public var hyperparameters: Hyperparameters
    public var metrics: [String: Double]
    /// The monitored metric; nil when the member's loss diverged.
    public var value: Double?
    /// After this generation the member was replaced by an explored copy of this member (PBT's exploit).
    public var replacedBy: Int?

    public init(generation: Int, member: Int, hyperparameters: Hyperparameters, metrics: [String: Double], value: Double?, replacedBy: Int? = nil) {
        self.generation = generation
        self.member = member
        self.hyperparameters = hyperparameters
        self.metrics = metrics
        self.value = value
        self.replacedBy = replacedBy
    }
}

/// Where a study is kept. A generation is committed whole or not at all, so a study killed at
/// any moment continues from its last committed generation. SQLite serves one machine; a
/// shared server database coordinating workers on several machines would implement the same.
public protocol StudyStore: Sendable {
    /// Where the study is kept, for messages ("study.db").
    var location: String { get }
    /// Nil for a new store.
    func definition() throws(TuneError) -> StudyDefinition?
    func create(_ definition: StudyDefinition) throws(TuneError)
    /// Adds one generation's members atomically.
    func commit(_ members: [MemberRecord]) throws(TuneError)
    /// Every committed member record, by generation then member.
    func members() throws(TuneError) -> [MemberRecord]
}

extension StudyStore {
    /// Generations committed so far.
    public func committedGenerations() throws(TuneError) -> Int {
        (try members().map(\.generation).max()).map { $0 + 1 } ?? 0
    }
}
