import Foundation

/// One column of a table as people write it — numbers with gaps, or strings — and how it
/// becomes features of a graph input. A graph input with columns takes raw rows: the trainer
/// encodes its CSV with them, and the server encodes requests with the very same code
/// (`RawColumn.encode`), so training and serving cannot drift apart.
///
/// Features per column, in order:
/// - numeric: the value (a missing one replaced by the training mean), then a 0/1 "was
///   missing" feature when the column had gaps at training;
/// - categorical: one-hot over the vocabulary, then an "other" slot when rare categories were
///   folded into one at training, then a "missing" slot when gaps were frequent enough to be
///   a category. A value no slot takes (an unknown category with no "other" slot, a gap with
///   no "missing" slot) encodes as all zeros: the model sees "none of the known ones".
public struct RawColumn: Sendable, Equatable {
    public var name: String
    public var kind: Kind
    /// The training distribution: what drift is measured against, and what inspection shows.
    public var profile: ColumnProfile

    public enum Kind: Sendable, Equatable {
        case numeric(Numeric)
        case categorical(Categories)
    }

    public struct Numeric: Sendable, Equatable {
        /// What a missing value becomes: the training mean.
        public var fill: Float
        /// Whether a 0/1 "was missing" feature follows the value.
        public var indicatesMissing: Bool

        public init(fill: Float, indicatesMissing: Bool) {
            self.fill = fill
            self.indicatesMissing = indicatesMissing
        }
    }

    public init(name: String, kind: Kind, profile: ColumnProfile) {
        self.name = name
        self.kind = kind
        self.profile = profile
    }

    /// Features this column contributes.
    public var width: Int {
        switch kind {
        case .numeric(let numeric): numeric.indicatesMissing ? 2 : 1
        case .categorical(let categories): categories.width
        }
    }

    /// Feature names: `age`, `age:missing`; `cut=Ideal`, `cut=(other)`, `cut=(missing)`.
    public var featureNames: [String] {
        switch kind {
        case .numeric(let numeric): numeric.indicatesMissing ? [name, "\(name):missing"] : [name]
        case .categorical(let categories):
            categories.vocabulary.map { "\(name)=\($0)" } + (categories.hasOther ? ["\(name)=(other)"] : [])
                + (categories.hasMissing ? ["\(name)=(missing)"] : [])
        }
    }

    public var isCategorical: Bool {
        if case .categorical = kind { return true }
        return false
    }

    /// "numeric" or "categorical", as metadata names the kind.
    public var kindName: String { isCategorical ? "categorical" : "numeric" }

    /// The vocabulary's size (0 for a numeric column).
    public var categoryCount: Int {
        if case .categorical(let categories) = kind { return categories.vocabulary.count }
        return 0
    }
}

/// The vocabulary of a categorical column, with the lookup the encoder uses.
public struct Categories: Sendable, Equatable {
    /// Longest category the trainer and the server accept, in UTF-8 bytes (a hostile request
    /// cannot make the server hash megabytes per field; a table cell that long is not a category).
    public static let maximumBytes = 256
    /// Most categories one column may keep: a vocabulary is a one-hot feature per entry.
    public static let maximumVocabulary = 10_000

    /// Categories in slot order (most frequent first at training, ties in text order).
    public let vocabulary: [String]
    /// Whether categories cut from the vocabulary (rare, or past `max_categories`) share a slot.
    public let hasOther: Bool
    /// Whether missing values have their own slot.
    public let hasMissing: Bool
    private let slots: [String: Int]

    public init(vocabulary: [String], hasOther: Bool, hasMissing: Bool) {
        self.vocabulary = vocabulary
        self.hasOther = hasOther
        self.hasMissing = hasMissing
        slots = Dictionary(vocabulary.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public static func == (lhs: Categories, rhs: Categories) -> Bool {
        lhs.vocabulary == rhs.vocabulary && lhs.hasOther == rhs.hasOther && lhs.hasMissing == rhs.hasMissing
    }

    public var width: Int { vocabulary.count + (hasOther ? 1 : 0) + (hasMissing ? 1 : 0) }
    /// The slot of the "other" category in `ColumnProfile.fractions` (always counted there, so
    /// unknown categories at serving show as drift even when the model has no slot for them).
    public var otherSlot: Int { vocabulary.count }

    /// The vocabulary slot of a category as `RawValue.category` spells it, if it has one.
    public func slot(of category: String) -> Int? { slots[category] }
}

/// The training distribution of one column, in the bins drift is measured over.
public struct ColumnProfile: Sendable, Equatable {
    /// Most inner bin edges a numeric profile may have (nntrain writes at most 9): a server
    /// counts every bin of every request.
    public static let maximumEdges = 1024

    /// Rows the column was learned from (the training split).
    public var rows: Int
    /// Fraction of those rows with no value.
    public var missingRate: Float
    /// Numeric: the smallest and largest training value, mean and standard deviation.
    public var minimum: Float
    public var maximum: Float
    public var mean: Float
    public var std: Float
    /// Numeric: ascending inner bin edges (training quantiles); a value v falls in bin
    /// `edges.firstIndex { v < $0 } ?? edges.count`. Empty for a categorical column.
    public var edges: [Float]
    /// Fraction of the present (non-missing) training values per bin: numeric `edges.count + 1`
    /// bins; categorical one per vocabulary slot, then one for every other category.
    public var fractions: [Float]

    public init(rows: Int = 0, missingRate: Float = 0, minimum: Float = 0, maximum: Float = 0, mean: Float = 0, std: Float = 0,
                edges: [Float] = [], fractions: [Float] = []) {
        self.rows = rows
        self.missingRate = missingRate
        self.minimum = minimum
        self.maximum = maximum
        self.mean = mean
        self.std = std
        self.edges = edges
        self.fractions = fractions
    }

    /// The drift bin of a present numeric value.
    public func bin(of value: Float) -> Int {
        var low = 0, high = edges.count
        while low < high {
            let middle = (low + high) / 2
            if value < edges[middle] { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

extension RawColumn {
    /// One line for `nntrain summary` and `nnexport inspect`: the kind, what the training rows
    /// looked like, and what a gap becomes.
    public var summary: String {
        func number(_ value: Float) -> String { String(format: "%.4g", Double(value)) }
        func percent(_ fraction: Float) -> String { fraction == 0 ? "0%" : fraction < 0.001 ? "<0.1%" : "\(Double(Int((fraction * 1000).rounded())) / 10)%" }
        let missing = "missing \(percent(profile.missingRate))"
        switch kind {
        case .numeric(let numeric):
            let gap = profile.missingRate > 0 || numeric.indicatesMissing
                ? " → \(number(numeric.fill))\(numeric.indicatesMissing ? " + indicator" : "")" : ""
            return "\(name): numeric, mean \(number(profile.mean)), std \(number(profile.std)), range \(number(profile.minimum))…\(number(profile.maximum)), \(missing)\(gap)"
        case .categorical(let categories):
            let shown = zip(categories.vocabulary, profile.fractions).prefix(8).map { "\($0) \(percent($1))" }
            let more = categories.vocabulary.count > 8 ? ", …" : ""
            let other = categories.hasOther ? ", other \(percent(profile.fractions.last ?? 0))" : ""
            return "\(name): categorical, \(categories.vocabulary.count) categories (\(shown.joined(separator: ", "))\(more)\(other)), \(missing)"
                + (categories.hasMissing ? " (own slot)" : "")
        }
    }
}
