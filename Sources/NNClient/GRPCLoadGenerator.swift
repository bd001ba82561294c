import Dispatch
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NNCore
import NNKServe

/// Bounded load over KServe v2 gRPC (`nnclient bench --protocol grpc`), with the binary
/// protocol's settings and report so the two compare in one run: `concurrency` unary
/// `ModelInfer` calls in flight at all times, spread over `connections` HTTP/2 connections,
/// each request `rowsPerRequest` random rows as `raw_input_contents` (what tritonclient sends).
extension LoadGenerator {
    private struct GRPCWorkerResult: Sendable {
        var latencies: [UInt64] = []
        var failures: [String: Int] = [:]
    }

    public func runGRPC() async throws -> Report {
        let connectionCount = max(1, min(connections, concurrency))
        // A name or an IPv6 address works as for the binary protocol (the DNS target resolves both).
        let target: any ResolvableTarget = host.contains(":") ? .ipv6(address: host, port: port) : .dns(host: host, port: port)
        let transports = try (0..<connectionCount).map { _ in
            try HTTP2ClientTransport.Posix(target: target, transportSecurity: .plaintext)
        }
        let clients = transports.map { GRPCClient(transport: $0) }
        return try await withThrowingTaskGroup(of: Void.self) { connectionsRunning in
            for client in clients { connectionsRunning.addTask { try await client.runConnections() } }
            defer {
                for client in clients { client.beginGracefulShutdown() }
            }
            let services = clients.map { Inference_GRPCInferenceService.Client(wrapping: $0) }
            let request = try await template(services[0])
            let start = DispatchTime.now().uptimeNanoseconds
            let end = start + UInt64(duration * 1e9)
            let results = try await withThrowingTaskGroup(of: GRPCWorkerResult.self) { workers in
                for worker in 0..<concurrency {
                    let service = services[worker % services.count]
                    workers.addTask {
                        var result = GRPCWorkerResult()
                        while DispatchTime.now().uptimeNanoseconds < end {
                            let sent = DispatchTime.now().uptimeNanoseconds
                            do {
                                _ = try await service.modelInfer(request)
                                result.latencies.append(DispatchTime.now().uptimeNanoseconds - sent)
                            } catch let error as RPCError {
                                result.failures["\(error.code): \(error.message)", default: 0] += 1
                            }
                        }
                        return result
                    }
                }
                var all = GRPCWorkerResult()
                for try await result in workers {
                    all.latencies += result.latencies
                    all.failures.merge(result.failures, uniquingKeysWith: +)
                }
                return all
            }
            return Report(latencies: results.latencies, errors: results.failures.values.reduce(0, +), failures: results.failures,
                          since: start, rowsPerRequest: rowsPerRequest)
        }
    }

    /// One request with random rows for every input the model declares.
    private func template(_ service: Inference_GRPCInferenceService.Client<HTTP2ClientTransport.Posix>) async throws -> Inference_ModelInferRequest {
        var metadataRequest = Inference_ModelMetadataRequest()
        metadataRequest.name = model
        let metadata = try await service.modelMetadata(metadataRequest)
        var rng = CounterRNG(seed: 3)
        var request = Inference_ModelInferRequest()
        request.modelName = model
        for input in metadata.inputs {
            let width = Int(input.shape.last ?? 1)
            var tensor = Inference_ModelInferRequest.InferInputTensor()
            tensor.name = input.name
            tensor.datatype = "FP32"
            tensor.shape = [Int64(rowsPerRequest), Int64(width)]
            request.inputs.append(tensor)
            let values = (0..<rowsPerRequest * width).map { _ in rng.nextNormal() }
            request.rawInputContents.append(values.withUnsafeBytes { Data($0) })
        }
        return request
    }
}
