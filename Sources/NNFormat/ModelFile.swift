import Foundation
import NNCore

/// Metadata stored with a model or checkpoint.
public struct ModelMetadata: Sendable, Equatable {
    public var producer: String
    public var producerVersion: String
    public var createdUnixMillis: Int64
    public var trainingMetrics: [String: Double]
    public var description: String
    /// Rewrites applied at export, in order.
    public var folds: [String]
    /// What export's accuracy gate measured for reduced-precision weights (empty for fp32).
    public var precisionGate: [String: Double]

    public init(producer: String = "", producerVersion: String = "", createdUnixMillis: Int64 = 0,
                trainingMetrics: [String: Double] = [:], description: String = "", folds: [String] = [],
                precisionGate: [String: Double] = [:]) {
        self.producer = producer
        self.producerVersion = producerVersion
        self.createdUnixMillis = createdUnixMillis
        self.trainingMetrics = trainingMetrics
        self.description = description
        self.folds = folds
        self.precisionGate = precisionGate
    }

    init(_ stored: Nnserve_Metadata) {
        self.init(producer: stored.producer, producerVersion: stored.producerVersion,
                  createdUnixMillis: stored.createdUnixMillis, trainingMetrics: stored.trainingMetrics,
                  description: stored.description_p, folds: stored.folds, precisionGate: stored.precisionGate)
    }

    var stored: Nnserve_Metadata {
        var stored = Nnserve_Metadata()
        stored.producer = producer
        stored.producerVersion = producerVersion
        stored.createdUnixMillis = createdUnixMillis
        stored.trainingMetrics = trainingMetrics
        stored.precisionGate = precisionGate
        stored.description_p = description
        stored.folds = folds
        return stored
    }
}

/// A named tensor, as self-test rows store their inputs and outputs.
public struct NamedTensor: Sendable, Equatable {
    public var name: String
    public var tensor: Tensor

    public init(name: String, tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}

/// Rows of inputs with the outputs the training graph computed for them; the server runs
/// them at load and refuses a file whose outputs differ by more than `tolerance` (relative).
public struct SelfTestCase: Sendable, Equatable {
    public var inputs: [NamedTensor]
    public var expectedOutputs: [NamedTensor]
    public var tolerance: Float

    public init(inputs: [NamedTensor], expectedOutputs: [NamedTensor], tolerance: Float) {
        self.inputs = inputs
        self.expectedOutputs = expectedOutputs
        self.tolerance = tolerance
    }
}

/// An exported model: what a `.nnm` file holds.
public struct ModelFile: Sendable, Equatable {
    public var name: String
    public var graph: Graph
    public var metadata: ModelMetadata
    public var selfTests: [SelfTestCase]
    /// How the file stored its Dense weights (read from the tensors' data type; the graph holds
    /// them upcast to fp32): serving computes a bf16 file with bf16 dot products where the CPU
    /// has them. Writing takes the storage from `WriteOptions`, not from here.
    public var weightStorage: WeightStorage

    public init(name: String, graph: Graph, metadata: ModelMetadata = ModelMetadata(), selfTests: [SelfTestCase] = [],
                weightStorage: WeightStorage = .float32) {
        self.name = name
        self.graph = graph
        self.metadata = metadata
        self.selfTests = selfTests
        self.weightStorage = weightStorage
    }

    /// Bytes of the tensors it holds in memory once read (every parameter and self-test value
    /// as float32): what a loaded file costs beside its compiled plan. Names, labels and the
    /// metadata's strings are left out (a few kilobytes, not proportional to the model).
    public var tensorBytes: Int {
        let selfTestValues = selfTests.reduce(0) { total, test in
            total + (test.inputs + test.expectedOutputs).reduce(0) { $0 + $1.tensor.count }
        }
        return (graph.parameterCount + selfTestValues) * MemoryLayout<Float>.size
    }

    /// The file's bytes: header, zstd frame, protobuf `Model`.
    public func encoded(options: WriteOptions = .default) throws(FormatError) -> [UInt8] {
        var stored = Nnserve_Model()
        stored.name = name
        stored.graph = GraphCoding.encode(graph, weights: options.weights)
        stored.metadata = metadata.stored
        stored.selfTests = selfTests.map { test in
            var storedTest = Nnserve_SelfTest()
            storedTest.inputs = test.inputs.map(Self.encode)
            storedTest.expectedOutputs = test.expectedOutputs.map(Self.encode)
            storedTest.tolerance = test.tolerance
            return storedTest
        }
        if options.shuffle {
            ByteShuffle.apply(to: &stored.graph, forward: true)
            for index in stored.selfTests.indices {
                ByteShuffle.apply(to: &stored.selfTests[index].inputs, forward: true)
                ByteShuffle.apply(to: &stored.selfTests[index].expectedOutputs, forward: true)
            }
        }
        return try MessageContainer.encode(stored, kind: .model, flags: options.shuffle ? .shuffledTensors : [],
                                           compressionLevel: options.compressionLevel)
    }

    /// Parses and checks a model file's bytes; `source` names them in errors.
    public static func decode(_ bytes: [UInt8], source: String, limits: ReadLimits = .default) throws(FormatError) -> ModelFile {
        var (stored, flags) = try MessageContainer.decode(Nnserve_Model.self, from: bytes, kind: .model,
                                                          source: source, limits: limits)
        if flags.contains(.shuffledTensors) {
            ByteShuffle.apply(to: &stored.graph, forward: false)
            for index in stored.selfTests.indices {
                ByteShuffle.apply(to: &stored.selfTests[index].inputs, forward: false)
                ByteShuffle.apply(to: &stored.selfTests[index].expectedOutputs, forward: false)
            }
        }
        let graph = try GraphCoding.decode(stored.graph, source: source)
        var selfTests: [SelfTestCase] = []
        for (index, storedTest) in stored.selfTests.enumerated() {
            let test = SelfTestCase(
                inputs: try decode(storedTest.inputs, label: "self-test \(index) input", source: source),
                expectedOutputs: try decode(storedTest.expectedOutputs, label: "self-test \(index) output", source: source),
                tolerance: storedTest.tolerance)
            try check(test, index: index, against: graph, source: source)
            selfTests.append(test)
        }
        return ModelFile(name: stored.name, graph: graph, metadata: ModelMetadata(stored.metadata), selfTests: selfTests,
                         weightStorage: GraphCoding.weightStorage(of: stored.graph))
    }

    /// Reads and checks the model file at `path`.
    public static func read(from path: String, limits: ReadLimits = .default) throws(FormatError) -> ModelFile {
        try decode(try AtomicFile.read(path, limit: limits.maxPayloadBytes), source: path, limits: limits)
    }

    /// Writes the model to `path` atomically.
    public func write(to path: String, options: WriteOptions = .default) throws(FormatError) {
        try AtomicFile.write(try encoded(options: options), to: path)
    }

    private static func encode(_ named: NamedTensor) -> Nnserve_NamedTensor {
        var stored = Nnserve_NamedTensor()
        stored.name = named.name
        stored.tensor = TensorCoding.encode(named.tensor)
        return stored
    }

    private static func decode(_ stored: [Nnserve_NamedTensor], label: String, source: String) throws(FormatError) -> [NamedTensor] {
        var result: [NamedTensor] = []
        for named in stored {
            result.append(NamedTensor(name: named.name,
                                      tensor: try TensorCoding.decode(named.tensor, name: "\(label) '\(named.name)'", source: source)))
        }
        return result
    }

    /// A self-test must name the graph's inputs and outputs with [rows, width] shapes.
    private static func check(_ test: SelfTestCase, index: Int, against graph: Graph, source: String) throws(FormatError) {
        let widths: [String: Int]
        do { widths = try graph.validate().widths } catch { throw .invalidGraph(source: source, error: error) }
        var rows: Int?
        func checkShape(_ named: NamedTensor, width: Int?, role: String) throws(FormatError) {
            let label = "self-test \(index) \(role) '\(named.name)'"
            guard let width else {
                throw .invalidTensor(source: source, tensor: label, detail: "is not a \(role) of the model")
            }
            guard named.tensor.rank == 2, named.tensor.shape[1] == width, rows == nil || rows == named.tensor.shape[0] else {
                throw .invalidTensor(source: source, tensor: label,
                                     detail: "has shape \(named.tensor.shape), expected [\(rows.map(String.init) ?? "rows"), \(width)]")
            }
            rows = named.tensor.shape[0]
        }
        for input in test.inputs {
            try checkShape(input, width: graph.inputs.first { $0.name == input.name }?.width, role: "input")
        }
        for output in test.expectedOutputs {
            let node = graph.outputs.first { $0.name == output.name }?.node
            try checkShape(output, width: node.flatMap { widths[$0] }, role: "output")
        }
    }
}
