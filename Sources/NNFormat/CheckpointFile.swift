import NNCore

/// A training checkpoint: the unfolded training graph plus everything a resumed run needs
/// (optimizer slots, step, RNG position, data split, config, metric history).
///
/// Both are Swift values (the graph IR, validated on read, and a `TrainingState`); the
/// protobuf message they are stored as stays inside NNFormat.
public struct CheckpointFile: Sendable, Equatable {
    public var graph: Graph
    public var state: TrainingState

    public init(graph: Graph, state: TrainingState) {
        self.graph = graph
        self.state = state
    }

    public func encoded(options: WriteOptions = .default) throws(FormatError) -> [UInt8] {
        var stored = state.stored
        stored.graph = GraphCoding.encode(graph)
        if options.shuffle { Self.shuffleTensors(of: &stored, forward: true) }
        return try MessageContainer.encode(stored, kind: .checkpoint, flags: options.shuffle ? .shuffledTensors : [],
                                           compressionLevel: options.compressionLevel)
    }

    /// Parses and checks a checkpoint's bytes: every tensor's shape against its data, and the graph.
    public static func decode(_ bytes: [UInt8], source: String, limits: ReadLimits = .default) throws(FormatError) -> CheckpointFile {
        var (stored, flags) = try MessageContainer.decode(Nnserve_Checkpoint.self, from: bytes, kind: .checkpoint,
                                                          source: source, limits: limits)
        if flags.contains(.shuffledTensors) { shuffleTensors(of: &stored, forward: false) }
        let graph = try GraphCoding.decode(stored.graph, source: source)
        return CheckpointFile(graph: graph, state: try TrainingState(stored, source: source))
    }

    public static func read(from path: String, limits: ReadLimits = .default) throws(FormatError) -> CheckpointFile {
        try decode(try AtomicFile.read(path, limit: limits.maxPayloadBytes), source: path, limits: limits)
    }

    /// Writes atomically: a crash mid-write leaves the previous checkpoint intact.
    public func write(to path: String, options: WriteOptions = .default) throws(FormatError) {
        try AtomicFile.write(try encoded(options: options), to: path)
    }

    private static func shuffleTensors(of checkpoint: inout Nnserve_Checkpoint, forward: Bool) {
        ByteShuffle.apply(to: &checkpoint.graph, forward: forward)
        if checkpoint.hasBest { ByteShuffle.apply(to: &checkpoint.best.graph, forward: forward) }
        for index in checkpoint.optimizer.slots.indices {
            ByteShuffle.apply(to: &checkpoint.optimizer.slots[index].slots, forward: forward)
        }
    }
}
