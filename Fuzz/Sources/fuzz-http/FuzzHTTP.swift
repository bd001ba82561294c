// libFuzzer target: the KServe v2 inference request path without sockets, from a path and a
// body: routing, the JSON parser, the request body, the binary tensor extension (BYTES
// elements too) and the checks against two models — one of numbers, one taking raw rows
// (strings, gaps). Invariant: every input is either accepted with exactly `rows × width`
// finite features per model input or refused with a ServingError / HTTPError; nothing traps.
import NIOCore
import NIOHTTP1
import NNCore
import NNFormat
import NNInference
@testable import NNServer

/// A 4-feature, 3-output model, compiled as the server compiles models (no self-test rows).
let model: LoadedModel = {
    let weights = Tensor(shape: [4, 3], values: (0..<12).map { Float($0) / 10 - 0.5 })
    let graph = Graph(inputs: [GraphInput(name: "x", width: 4)],
                      nodes: [Node(name: "d", operation: .dense(DenseParameters(weights: weights, bias: Tensor(zeros: [3]), activation: .relu)), inputs: ["x"])],
                      outputs: [GraphOutput(name: "y", node: "d")])
    var configuration = ServerConfiguration()
    configuration.queueBoundRows = 1024
    let settings = ModelSettings(config: nil, defaults: configuration)
    return LoadedModel(name: "m", version: 1, served: try! ServedModel(ModelFile(name: "m", graph: graph), maxRows: settings.maxBatchSize),
                       settings: settings, metrics: ServerMetrics().modelMetrics(name: "m", version: 1), driftWindowRows: 100)
}()

/// A model taking raw columns: `n` a number with gaps (2 features), `c` a category of two with
/// a gap slot (3 features); requests send tensors named `n` and `c`.
let rawModel: LoadedModel = {
    let number = RawColumn(name: "n", kind: .numeric(.init(fill: 1, indicatesMissing: true)),
                           profile: ColumnProfile(rows: 10, missingRate: 0.1, minimum: 0, maximum: 5, mean: 1, std: 1, edges: [1], fractions: [0.5, 0.5]))
    let category = RawColumn(name: "c", kind: .categorical(Categories(vocabulary: ["a", "b"], hasOther: false, hasMissing: true)),
                             profile: ColumnProfile(rows: 10, missingRate: 0.1, fractions: [0.5, 0.5, 0]))
    let weights = Tensor(shape: [5, 3], values: (0..<15).map { Float($0) / 10 - 0.5 })
    let graph = Graph(inputs: [GraphInput(name: "x", columns: [number, category])],
                      nodes: [Node(name: "d", operation: .dense(DenseParameters(weights: weights, bias: Tensor(zeros: [3]), activation: .relu)), inputs: ["x"])],
                      outputs: [GraphOutput(name: "y", node: "d")])
    let settings = ModelSettings(config: nil, defaults: ServerConfiguration())
    return LoadedModel(name: "r", version: 1, served: try! ServedModel(ModelFile(name: "r", graph: graph), maxRows: settings.maxBatchSize),
                       settings: settings, metrics: ServerMetrics().modelMetrics(name: "r", version: 1), driftWindowRows: 100)
}()
let limits = PredictLimits(ServerConfiguration())

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // First line: the path; second line: Inference-Header-Content-Length (optional); rest: the body.
    let lines = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 2, omittingEmptySubsequences: false)
    let path = String(decoding: lines.first ?? [], as: UTF8.self)
    _ = try? KServeRoute.match(path: path)
    var headers = HTTPHeaders()
    if lines.count > 1, !lines[1].isEmpty { headers.add(name: InferenceReply.binaryHeaderLength, value: String(decoding: lines[1], as: UTF8.self)) }
    let body = lines.count > 2 ? Array(lines[2]) : []
    _ = try? JSONParser.parse(body)
    let request = KServeEndpoints.Request(method: .POST, path: path, headers: headers, body: ByteBuffer(bytes: body))
    if let decoded = try? HTTPInferenceDecoding.decode(request),
       let prepared = try? ServingCore.prepare(decoded.inputs, outputs: decoded.outputs.map(\.name), for: model, limits: limits) {
        precondition(prepared.inputs.count == 1 && prepared.inputs[0].count == prepared.rows * 4,
                     "an accepted request does not hold rows × width values")
        precondition(prepared.rows > 0 && prepared.rows <= limits.maxRows)
    }
    if let decoded = try? HTTPInferenceDecoding.decode(request),
       let prepared = try? ServingCore.prepare(decoded.inputs, outputs: decoded.outputs.map(\.name), for: rawModel, limits: limits) {
        precondition(prepared.inputs.count == 1 && prepared.inputs[0].count == prepared.rows * 5 && prepared.inputs[0].allSatisfy(\.isFinite),
                     "an accepted raw request does not hold rows × width finite features")
        rawModel.columns?.record(prepared.tallies, plan: rawModel.plan)
        precondition(rawModel.columns?.snapshot.allSatisfy { $0.drift.isFinite && $0.drift >= 0 } ?? false, "drift is a finite index")
    }
    // The same body as gzip: inflated to at most the limit, or refused.
    if let inflated = try? ContentCoding.gzip.decompress(ByteBuffer(bytes: body), limit: 1 << 16) {
        precondition(inflated.readableBytes <= 1 << 16, "inflated past the limit")
    }
    return 0
}
