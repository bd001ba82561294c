import ArgumentParser
import Dispatch
import Foundation
import Logging
import NNCore
import NNFormat
import NNServer

@main
struct NNServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nnserve",
        abstract: "Serve every model of a repository (<root>/<name>/<version>/model.nnm) over the binary TCP protocol, KServe v2 HTTP and KServe v2 gRPC.")

    @Argument(help: "The model repository (<root>/<name>/<version>/model.nnm), or with --model-name one model's directory.")
    var repository = "models"
    @Option(help: "Serve the directory as this one model: <dir>/<version>/model.nnm or <dir>/model.nnm (as KServe's storage initializer lays out /mnt/models).")
    var modelName: String?
    @Option(help: "Address to bind (loopback unless told otherwise).") var host = "127.0.0.1"
    @Option(help: "Port of the binary protocol (0: any free port, printed at start).") var port = 8500
    @Option(help: "Port of the HTTP front: KServe v2 REST and /metrics (0: any free port; -1: no HTTP).") var httpPort = 8000
    @Option(help: "Port of the gRPC front: KServe v2 (inference.GRPCInferenceService) with Triton's config, statistics and repository RPCs (0: any free port; -1: no gRPC).")
    var grpcPort = 8001
    @Option(help: "Port of a health listener (/v2/health/live, /v2/health/ready, /metrics) with its own connection limit, for probes that must be answered while the main ports are flooded (0: any free port; -1: none).")
    var healthPort = -1
    @Flag(help: "The health listener speaks plain HTTP even with --tls-cert (probes from inside the host). Without it, it speaks TLS but never asks for a client certificate, so probes work under mutual TLS.")
    var plainHealth = false
    @Option(help: "Open connections of the health listener at most.") var maxHealthConnections = ServerConfiguration().maxHealthConnections
    @Option(help: "Largest HTTP request body in bytes.") var maxBodySize = ServerConfiguration().maxBodySize
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: Logger.Level = .info
    @Flag(help: "Log one line per HTTP request and one per prediction on every front (binary, HTTP, gRPC).") var accessLog = false
    @Option(help: "Also expose another server's metric names on /metrics: triton (nv_inference_* per model, as Triton's dashboards read them). Repeatable.")
    var metricsCompat: [MetricsCompatibility] = []
    @Option(help: "Rows per batch at most, unless a model's config.pbtxt says otherwise.") var maxBatchSize = ServerConfiguration().maxBatchSize
    @Option(help: "Microseconds a batch waits for more requests.") var maxQueueDelayMicros = ServerConfiguration().maxQueueDelayMicros
    @Option(help: "Executors per model version.") var instances = ServerConfiguration().instances
    @Option(help: "Rows queued per model before requests are refused (resource exhausted).") var queueBound = ServerConfiguration().queueBoundRows
    @Option(help: "Largest frame in bytes.") var maxFrameSize = ServerConfiguration().maxFrameSize
    @Option(help: "Rows per request at most.") var maxRowsPerRequest = ServerConfiguration().maxRowsPerRequest
    @Option(help: "Open binary-protocol connections at most (more get an error frame).") var maxConnections = ServerConfiguration().maxConnections
    @Option(help: "Open HTTP connections at most (more get a 503).") var maxHttpConnections = ServerConfiguration().maxHTTPConnections
    @Option(help: "Open gRPC connections at most (more are closed at once).") var maxGrpcConnections = ServerConfiguration().maxGRPCConnections
    @Option(help: "Requests of one binary connection in flight at most; past it the connection is not read.")
    var maxInFlight = ServerConfiguration().maxInFlightPerConnection
    @Option(help: "Seconds for a request's head to arrive after its first byte (or the connection's opening).")
    var headerTimeout = ServerConfiguration().headerTimeoutSeconds
    @Option(help: "Bytes per second a request must average after the header timeout.")
    var minTransferRate = ServerConfiguration().minTransferBytesPerSecond
    @Option(help: "Seconds before an idle connection is closed.") var idleTimeout = ServerConfiguration().idleTimeoutSeconds
    @Option(help: "A file holding the bearer token that repository load/unload requests must carry. Without it those endpoints are open on a loopback address and off on any other.")
    var adminTokenFile: String?
    @Option(help: "Seconds between SIGTERM and closing the listeners: readiness is false at once, predictions are still answered (match the orchestrator's preStop/endpoint removal delay).")
    var shutdownGrace = 0.0
    @Option(help: "Seconds after the grace period within which the process exits, answered or not.")
    var exitTimeout = 30.0
    @Option(help: "Write a sample of the answered predictions to this directory, as CSV files nntrain reads (off by default).")
    var requestLog: String?
    @Option(help: "Fraction of predictions the request log keeps.") var requestLogSample = 0.01
    @Option(help: "Bytes the request log's directory may hold; the oldest files go first.") var requestLogMaxBytes = 256 << 20
    @Option(help: "PEM certificate chain: both fronts speak TLS only (with --tls-key).") var tlsCert: String?
    @Option(help: "PEM private key of --tls-cert.") var tlsKey: String?
    @Option(help: "PEM CA bundle: clients must present a certificate chaining to it (mutual TLS).") var tlsClientCa: String?
    @Flag(help: "Serve model files that carry no self-test rows (nnexport always writes them; refused by default).")
    var allowUntestedModels = false
    @Option(help: "Rows per raw column the drift index (nnserve_column_drift_psi) of a model taking raw rows is measured over.")
    var driftWindowRows = ServerConfiguration().driftWindowRows
    @Option(help: "Memory the resident model versions may hold, e.g. 512MiB or 2GB (their tensors, compiled weights and executor arenas, counted exactly). With it, a version loads on its first request and the least recently used are evicted to make room; without it, every served version loads at start and stays.")
    var memoryBudget: String?
    @Flag(help: "With --memory-budget: load versions at start (pinned first, then by name) until the budget is full, instead of on their first request.")
    var preload = false
    @Option(help: "With --memory-budget: model versions waiting to load at most; requests for another are refused (resource exhausted).")
    var maxPendingLoads = ServerConfiguration().maxPendingLoads
    @Option(help: "With --memory-budget: requests waiting for model loads at most.")
    var maxRequestsAwaitingLoad = ServerConfiguration().maxRequestsAwaitingLoad
    @Option(help: "With --memory-budget: seconds a request without a timeout of its own waits for its model's load.")
    var loadWait = ServerConfiguration().loadWaitSeconds
    @Option(help: "Seconds between repository polls (0: only on SIGHUP).") var pollInterval = 10.0
    @Option(help: "Event loop threads for both fronts (connections are spread over them).") var eventLoopThreads = 1
    /// Accepted so command lines and unit files from before keep starting; nnserve no longer
    /// links OpenBLAS (its plans never called it), so the value changes nothing. Hidden.
    @Option(help: .hidden) var blasThreads: Int?

    func validate() throws {
        // A mistyped path served 0 models without a word: the repository must exist (it may be
        // empty: models published into it later are loaded at the next poll).
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: repository, isDirectory: &isDirectory)
        guard exists, isDirectory.boolValue else {
            throw ValidationError("model repository '\(repository)': " + (exists ? "is a file, not a directory" : "no such directory")
                                  + " (nnexport run.ckpt --repository DIR writes one; `nnexport import model.onnx --repository DIR` too)")
        }
        guard driftWindowRows > 0 else {
            throw ValidationError("--drift-window-rows \(driftWindowRows): the drift window holds at least 1 value per column")
        }
        if let memoryBudget, ProcessMemory.bytes(in: memoryBudget) == nil {
            throw ValidationError("--memory-budget '\(memoryBudget)': not a size (bytes, or a number with KB, MB, GB, KiB, MiB or GiB: 512MiB)")
        }
        if memoryBudget == nil, preload { throw ValidationError("--preload needs --memory-budget (without one every served version loads at start)") }
        guard maxPendingLoads > 0, maxRequestsAwaitingLoad > 0, loadWait > 0 else {
            throw ValidationError("--max-pending-loads \(maxPendingLoads), --max-requests-awaiting-load \(maxRequestsAwaitingLoad) and --load-wait \(loadWait) must be positive")
        }
    }

    /// Binds one front; a failure names the address, the flag that chose it and what to do
    /// (NIO says only "bind(descriptor:ptr:bytes:): Address already in use (errno: 98)").
    private func listening<Bound>(_ flag: String, _ port: Int, _ bind: () throws -> Bound) throws -> Bound {
        do {
            return try bind()
        } catch {
            let text = "\(error)"
            let reason = text.contains("Address already in use") ? "the port is in use (another nnserve, or another server); choose another with \(flag)"
                : text.contains("Permission denied") ? "permission denied (ports below 1024 need privileges); choose another with \(flag)"
                : text.contains("Cannot assign requested address") ? "this machine has no address \(host) (--host)"
                : text
            throw ValidationError("cannot listen on \(host):\(port) (\(flag)): \(reason)")
        }
    }

    func run() throws {
        ServerMemory.returnLargeBlocksWhenFreed()
        var configuration = ServerConfiguration()
        configuration.maxBatchSize = maxBatchSize
        configuration.maxQueueDelayMicros = maxQueueDelayMicros
        configuration.instances = instances
        configuration.queueBoundRows = queueBound
        configuration.maxFrameSize = maxFrameSize
        configuration.maxRowsPerRequest = maxRowsPerRequest
        configuration.maxConnections = maxConnections
        configuration.maxHTTPConnections = maxHttpConnections
        configuration.maxGRPCConnections = maxGrpcConnections
        configuration.maxHealthConnections = maxHealthConnections
        configuration.maxInFlightPerConnection = max(1, maxInFlight)
        configuration.headerTimeoutSeconds = headerTimeout
        configuration.minTransferBytesPerSecond = minTransferRate
        configuration.idleTimeoutSeconds = idleTimeout
        configuration.maxBodySize = maxBodySize
        configuration.accessLog = accessLog
        configuration.metricsCompat = Set(metricsCompat)
        configuration.allowUntestedModels = allowUntestedModels
        configuration.driftWindowRows = driftWindowRows
        configuration.memoryBudgetBytes = memoryBudget.flatMap(ProcessMemory.bytes(in:))
        configuration.preload = preload
        configuration.maxPendingLoads = maxPendingLoads
        configuration.maxRequestsAwaitingLoad = maxRequestsAwaitingLoad
        configuration.loadWaitSeconds = loadWait
        var token: String?
        if let adminTokenFile {
            guard let text = try? String(contentsOfFile: adminTokenFile, encoding: .utf8) else {
                throw ValidationError("--admin-token-file: cannot read '\(adminTokenFile)'")
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard token?.isEmpty == false else { throw ValidationError("--admin-token-file: '\(adminTokenFile)' is empty") }
        }
        configuration.admin = AdminAccess.forBinding(host: host, token: token)
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "nnserve")
        if blasThreads != nil { logger.warning("--blas-threads has no effect: nnserve does not link OpenBLAS (its kernels are its own); drop the flag") }
        let layout = RepositoryLayout(root: repository, kind: modelName.map { .singleModel(name: $0) } ?? .repository)
        guard (0...1).contains(requestLogSample) else { throw ValidationError("--request-log-sample: \(requestLogSample) is not a fraction in 0...1") }
        let log = try requestLog.map {
            try RequestLog(RequestLog.Settings(directory: $0, sampleRate: requestLogSample, maxTotalBytes: requestLogMaxBytes,
                                               maxFileBytes: max(4096, min(16 << 20, requestLogMaxBytes / 8))))
        }
        let store = ModelStore(layout: layout, configuration: configuration, logger: logger, requestLog: log)
        store.reload()
        if let budget = configuration.memoryBudgetBytes {
            logger.info("""
                serving on demand within --memory-budget \(ProcessMemory.text(budget)): \(store.onDemandModelCount) models, \
                \(store.loadedCount) versions loaded at start, the others on their first request
                """)
        } else if store.loadedCount == 0 {
            logger.warning("repository '\(repository)' holds no model that loads yet: serving none until one is published (nnexport --repository \(repository)); /v2/repository/index lists what was refused")
        }
        let tls: ServerTLS?
        switch (tlsCert, tlsKey) {
        case (let cert?, let key?):
            do { tls = try ServerTLS(certificateChain: cert, privateKey: key, clientCA: tlsClientCa) } catch { throw ValidationError("\(error)") }
        case (nil, nil):
            guard tlsClientCa == nil else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
            tls = nil
        default:
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        let server = InferenceServer(store: store, configuration: configuration, eventLoopThreads: eventLoopThreads, tls: tls)
        let bound = try listening("--port", port) { try server.start(host: host, port: port) }
        let httpBound = httpPort >= 0 ? try listening("--http-port", httpPort) { try server.startHTTP(host: host, port: httpPort) } : nil
        let healthBound = healthPort >= 0 ? try listening("--health-port", healthPort) { try server.startHealth(host: host, port: healthPort, plain: plainHealth) } : nil
        let grpcBound = grpcPort >= 0 ? try listening("--grpc-port", grpcPort) { try server.startGRPC(host: host, port: grpcPort) } : nil
        let reloads = DispatchQueue(label: "nnserve.reload")
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: reloads)
        hangup.setEventHandler { logger.info("SIGHUP: reloading"); store.reload() }
        hangup.resume()
        // Held until the end of run (below): a dispatch source that is released is cancelled,
        // and a poller scoped to an `if` stopped polling as soon as it was set up.
        var poller: (any DispatchSourceTimer)?
        if pollInterval > 0 {
            let timer = DispatchSource.makeTimerSource(queue: reloads)
            timer.schedule(deadline: .now() + pollInterval, repeating: pollInterval)
            timer.setEventHandler { store.reload() }
            timer.resume()
            poller = timer
        }
        let stop = DispatchSemaphore(value: 0)
        var sources: [any DispatchSourceSignal] = [hangup]
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            // The first signal starts the grace period; a second one ends it early.
            source.setEventHandler { stop.signal() }
            source.resume()
            sources.append(source)
        }
        // Only now, with the signal handlers in place, say where we listen: whoever reads this
        // line may send SIGTERM at once, and before the handlers it would kill the process.
        // Tests and scripts read the bound ports from this first line of stdout.
        let http = (httpBound.map { ", http \(host):\($0)" } ?? "") + (grpcBound.map { ", grpc \(host):\($0)" } ?? "")
            + (healthBound.map { ", health \(host):\($0)" } ?? "")
        FileHandle.standardOutput.write(Data("nnserve listening on binary \(host):\(bound)\(http) (\(store.loadedCount) model versions)\n".utf8))
        logger.info("listening on binary \(host):\(bound)\(http) with \(store.loadedCount) model versions")
        logger.info("\(configuration.admin.summary)")
        logger.info("\(tls.map { $0.requiresClientCertificate ? "TLS on every front, client certificates required" : "TLS on every front" } ?? "plain TCP (no --tls-cert)")")
        stop.wait()
        store.beginShutdown()
        if shutdownGrace > 0 {
            logger.info("shutting down: not ready; answering requests for \(shutdownGrace) s before closing the listeners")
            _ = stop.wait(timeout: .now() + shutdownGrace)
        }
        let exitTimeout = exitTimeout
        DispatchQueue.global().asyncAfter(deadline: .now() + exitTimeout) {
            logger.error("shutdown did not finish within --exit-timeout \(exitTimeout) s; exiting")
            Foundation.exit(1)
        }
        logger.info("shutting down: answering queued requests")
        server.shutdown()
        log?.flush()
        logger.info("stopped")
        withExtendedLifetime((sources, poller)) {}
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension MetricsCompatibility: ExpressibleByArgument {}
