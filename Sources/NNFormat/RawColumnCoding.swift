import NNCore

/// Raw columns (`RawColumn`) to and from their stored form. What decodes here is checked by
/// `Graph.validate()` with the rest of the graph before anything uses it.
enum RawColumnCoding {
    static func encode(_ column: RawColumn) -> Nnserve_RawColumn {
        var stored = Nnserve_RawColumn()
        stored.name = column.name
        switch column.kind {
        case .numeric(let numeric):
            var storedNumeric = Nnserve_NumericColumn()
            storedNumeric.fill = numeric.fill
            storedNumeric.indicatesMissing = numeric.indicatesMissing
            stored.numeric = storedNumeric
        case .categorical(let categories):
            var storedCategories = Nnserve_CategoricalColumn()
            storedCategories.vocabulary = categories.vocabulary
            storedCategories.otherSlot = categories.hasOther
            storedCategories.missingSlot = categories.hasMissing
            stored.categorical = storedCategories
        }
        let profile = column.profile
        stored.profile.rows = Int64(profile.rows)
        stored.profile.missingRate = profile.missingRate
        stored.profile.minimum = profile.minimum
        stored.profile.maximum = profile.maximum
        stored.profile.mean = profile.mean
        stored.profile.std = profile.std
        stored.profile.edges = profile.edges
        stored.profile.fractions = profile.fractions
        return stored
    }

    static func decode(_ stored: Nnserve_RawColumn) -> RawColumn {
        let profile = ColumnProfile(rows: Int(clamping: stored.profile.rows), missingRate: stored.profile.missingRate,
                                    minimum: stored.profile.minimum, maximum: stored.profile.maximum,
                                    mean: stored.profile.mean, std: stored.profile.std,
                                    edges: stored.profile.edges, fractions: stored.profile.fractions)
        let kind: RawColumn.Kind = switch stored.kind {
        case .categorical(let categories)?:
            .categorical(Categories(vocabulary: categories.vocabulary, hasOther: categories.otherSlot, hasMissing: categories.missingSlot))
        case .numeric(let numeric)?:
            .numeric(.init(fill: numeric.fill, indicatesMissing: numeric.indicatesMissing))
        case nil:
            // A column with no kind (a file from a newer writer, or a damaged one) reads as a
            // plain number with nothing to fill: validation refuses a NaN fill.
            .numeric(.init(fill: .nan, indicatesMissing: false))
        }
        return RawColumn(name: stored.name, kind: kind, profile: profile)
    }
}
