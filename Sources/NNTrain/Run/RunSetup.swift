import Foundation
import NNCore
import NNFormat

/// What a run is made of, however it starts — a new run from a table, a run resumed from its
/// checkpoint, a graph built in Swift, a checkpoint being diagnosed. `Trainer.init(_:)` turns
/// any of them into a trainer, so every run is checked and set up the same way.
struct RunSetup {
    var spec: ModelSpec
    var settings: TrainingSettings
    var graph: Graph
    var regularization: ModelFactory.Regularization
    var training: TrainingData
    var validation: TrainingData
    var split: TrainingState.DataSplit
    /// The file named in errors about the model ("checkpoint" for a resumed run).
    var modelFile: String
    /// Where a resumed run stands; nil for a run that has not trained.
    var progress: Progress?
    /// Tables whose targets every head must accept, checked once the graph is known.
    var targetChecks: [(file: String, data: TrainingData)] = []

    /// A resumed run's place: epoch, optimizer state, history and early stopping's best.
    struct Progress {
        var epoch: Int
        var optimizerStep: Int
        var optimizerSlots: [String: [String: Tensor]]
        var history: [Trainer.EpochReport]
        var best: TrainingState.BestEpoch?
        var rateSweep: LearningRateFinder.Record?
    }

    init(spec: ModelSpec, settings: TrainingSettings, graph: Graph, regularization: ModelFactory.Regularization,
         training: TrainingData, validation: TrainingData, split: TrainingState.DataSplit, modelFile: String) {
        self.spec = spec
        self.settings = settings
        self.graph = graph
        self.regularization = regularization
        self.training = training
        self.validation = validation
        self.split = split
        self.modelFile = modelFile
    }

    /// A new run: splits and standardizes `table`, builds and initializes the graph.
    /// With `validationTable`, every row of `table` trains and the validation metrics come
    /// from that file; otherwise a seeded `settings.validationFraction` of `table` is held out.
    static func newRun(spec fileSpec: ModelSpec, table: CSVTable, validationTable: CSVTable? = nil, settings: TrainingSettings,
                              modelFile: String = "model", keeping kept: TableEncoding = TableEncoding(),
                              warn: (String) -> Void = { _ in }) throws(DataError) -> RunSetup {
        try settings.validate()
        var settings = settings
        if validationTable != nil { settings.validationFraction = 0 }
        // Weights are optional when reading data (metrics do not use them), not for training.
        if let column = fileSpec.sampleWeightColumn { _ = try table.columnIndex(column) }
        let featureColumns = try TrainingData.featureColumns(of: fileSpec, in: table)
        let splitSeed = settings.splitSeed ?? settings.seed
        let (trainRows, validationRows) = TrainingData.split(rows: table.rowCount, validationFraction: settings.validationFraction, seed: splitSeed)
        // Vocabularies, fills and profiles come from the training rows only; embedded columns
        // then become inputs of their own (the spec the run keeps is the expanded one).
        let learned = try TableEncoding.learn(table, spec: fileSpec, featureColumns: featureColumns, rows: trainRows, keeping: kept, warn: warn)
        let (spec, encoding) = try EmbeddingExpansion.expand(fileSpec, learned, file: modelFile)
        let (data, _) = try TrainingData.from(table, spec: spec, encoding: encoding)
        let training = data.subset(trainRows[...])
        var inputs: [GraphInput] = []
        for input in spec.inputs {
            let features = training.inputs[input.name]!
            var statistics = input.standardize == false ? nil : TrainingData.standardization(of: features)
            if let columns = encoding.columns[input.name] {
                statistics = statistics.map { TableEncoding.standardization($0, leavingIndicatorsOf: columns) }
                inputs.append(GraphInput(name: input.name, columns: columns, standardization: statistics))
            } else {
                let columns = featureColumns[input.name]!
                inputs.append(GraphInput(name: input.name, width: columns.count, featureNames: columns, standardization: statistics))
            }
        }
        var (graph, regularization) = try ModelFactory.graph(spec, inputs: inputs, seed: settings.seed, file: modelFile, warn: warn)
        for (index, head) in spec.outputs.enumerated() { graph.outputs[index].labels = encoding.labels[head.name] ?? [] }
        try RunChecks.headWidths(spec, graph: graph, file: modelFile)
        for (index, head) in spec.outputs.enumerated() {
            graph.outputs[index].scale = try RunChecks.targetScale(head, loss: spec.loss(of: head), targets: training.targets[head.name]!, file: modelFile)
        }
        var split = TrainingState.DataSplit()
        split.trainingFile = table.file
        split.validationFile = validationTable?.file ?? ""
        split.validationFraction = settings.validationFraction
        split.splitSeed = splitSeed
        split.trainingRows = trainRows.count
        split.validationRows = validationRows.count
        split.targetColumns = spec.outputs.flatMap(spec.targets(of:))
        split.delimiter = table.delimiter
        var setup = RunSetup(spec: spec, settings: settings, graph: graph, regularization: regularization, training: training,
                             validation: data.subset(validationRows[...]), split: split, modelFile: modelFile)
        setup.targetChecks = [(table.file, data)]
        try RunChecks.targets(data, file: table.file, spec: spec, graph: graph)
        try RunChecks.classesCoverHeads(data, table: table.file, spec: spec, graph: graph, modelFile: modelFile, warn: warn)
        if let validationTable {
            let validation = try TrainingData.from(validationTable, spec: spec, encoding: encoding).0
            setup.validation = validation
            setup.split.validationRows = validation.rows
            setup.targetChecks.append((validationTable.file, validation))
        }
        return setup
    }

    /// A run over prepared data and an initialized graph (benchmarks, and callers that build
    /// graphs with the Swift API): no validation split, no checkpoint file.
    static func prepared(graph: Graph, heads: [ModelSpec.Head], training: TrainingData, settings: TrainingSettings) -> RunSetup {
        let spec = ModelSpec(inputs: graph.inputs.map { .init(name: $0.name) }, layers: [], outputs: heads)
        return RunSetup(spec: spec, settings: settings, graph: graph, regularization: [:], training: training,
                        validation: training.subset([][...]), split: TrainingState.DataSplit(), modelFile: "graph")
    }
}
