/// Every metric nnserve exports, with the help text /metrics prints for it. docs/SERVING.md
/// lists the same table; a test checks that every exported family has help here.
enum MetricName {
    static let requests = "nnserve_requests_total"
    static let requestDuration = "nnserve_request_duration_seconds"
    static let rows = "nnserve_rows_total"
    static let batchSize = "nnserve_batch_size_rows"
    static let queueDuration = "nnserve_queue_duration_seconds"
    static let computeDuration = "nnserve_compute_duration_seconds"
    static let queueDepth = "nnserve_queue_depth_rows"
    static let loadedVersions = "nnserve_model_versions_loaded"
    static let unroutedRequests = "nnserve_unrouted_requests_total"
    static let httpResponses = "nnserve_http_responses_total"
    static let openConnections = "nnserve_open_connections"
    static let refusedConnections = "nnserve_refused_connections_total"
    static let closedSlowClients = "nnserve_slow_clients_closed_total"
    static let cancelledRequests = "nnserve_cancelled_requests_total"
    static let closedAbusiveClients = "nnserve_abusive_clients_closed_total"
    static let reclaimedConnections = "nnserve_idle_connections_reclaimed_total"
    static let columnValues = "nnserve_column_values_total"
    static let columnMissing = "nnserve_column_missing_total"
    static let columnUnknown = "nnserve_column_unknown_categories_total"
    static let columnOutsideRange = "nnserve_column_outside_training_range_total"
    static let columnDrift = "nnserve_column_drift_psi"
    static let columnDriftWindow = "nnserve_column_drift_window_rows"
    static let modelMemory = "nnserve_model_memory_bytes"
    static let memoryBudget = "nnserve_memory_budget_bytes"
    static let residentModelMemory = "nnserve_resident_models_memory_bytes"
    static let modelLoads = "nnserve_model_loads_total"
    static let modelLoadDuration = "nnserve_model_load_duration_seconds"
    static let modelEvictions = "nnserve_model_evictions_total"
    static let loadQueueFull = "nnserve_load_queue_full_total"
    static let residentMemory = "process_resident_memory_bytes"
    static let virtualMemory = "process_virtual_memory_bytes"
    static let cpuSeconds = "process_cpu_seconds_total"
    static let openFileDescriptors = "process_open_fds"
    static let startTime = "process_start_time_seconds"

    static let help: [String: String] = [
        requests: "Predict requests answered, by model, version, protocol (binary, http) and outcome (ok or the error code).",
        requestDuration: "Time from a predict request's arrival to its answer being written, in seconds.",
        rows: "Rows computed (a request of N rows counts N).",
        batchSize: "Rows per batch run by the model's executors.",
        queueDuration: "Time a request waited in its model's queue before its batch ran, in seconds.",
        computeDuration: "Time to run one batch through the compiled plan, in seconds.",
        queueDepth: "Rows waiting in the model's queue at scrape time.",
        loadedVersions: "Versions of the model being served.",
        unroutedRequests: "Predict requests for a model or version that is not loaded, by protocol.",
        httpResponses: "HTTP responses, by status code.",
        openConnections: "Open client connections, by protocol.",
        refusedConnections: "Connections refused at the front's connection limit, by protocol.",
        closedSlowClients: "Connections closed (gRPC: calls ended) for sending a request too slowly (slower than --min-transfer-rate after --header-timeout), by protocol.",
        cancelledRequests: "Predict requests their client cancelled (gRPC RST_STREAM or a closed connection), by stage: queued (skipped, never computed) or computing (cancelled while their batch ran).",
        closedAbusiveClients: "Connections closed with GOAWAY ENHANCE_YOUR_CALM, by reason: frames that need no answer (window_updates), answers left unread (unread_answers).",
        reclaimedConnections: "Idle connections closed to make room for a new one at the front's connection limit, by protocol.",
        columnValues: "Values a raw column of a model taking raw rows received (one per row), by model, version and column.",
        columnMissing: "Gaps (null, empty, NA, NaN) a raw column received; the model filled them as training did.",
        columnUnknown: "Categories outside a categorical column's training vocabulary (answered through its other slot, or as none of the known ones).",
        columnOutsideRange: "Numbers below a numeric column's training minimum or above its maximum.",
        columnDrift: "Population stability index of a raw column's last --drift-window-rows values against its training distribution (0.1: moderate shift, 0.25: major).",
        columnDriftWindow: "Values in the window the drift index is measured over.",
        modelMemory: "Memory a resident model version holds (file tensors, compiled constants, executor arenas, column windows), in bytes.",
        memoryBudget: "Bytes the resident model versions may hold (--memory-budget; 0: no budget, every served version stays loaded).",
        residentModelMemory: "Memory the resident model versions hold together, in bytes.",
        modelLoads: "Model versions read, self-tested and compiled (loaded) or refused for their file or self-test (refused): at start, on a reload, or on a request under --memory-budget.",
        modelLoadDuration: "Time to read, self-test and compile a model version, in seconds.",
        modelEvictions: "Model versions evicted (least recently used) to make room for another under --memory-budget.",
        loadQueueFull: "Requests refused because too many model versions (--max-pending-loads) or requests (--max-requests-awaiting-load) were waiting for loads.",
        residentMemory: "Resident memory of the server process, in bytes.",
        virtualMemory: "Virtual memory of the server process, in bytes.",
        cpuSeconds: "CPU time used by the server process (user and system), in seconds.",
        openFileDescriptors: "Open file descriptors of the server process.",
        startTime: "Start time of the server process since the Unix epoch, in seconds.",
    ]

    /// A label value as the text format writes it: backslash, quote and newline escaped.
    static func escapedLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Inserts a `# HELP` line before each `# TYPE` line whose family has help above.
    /// (swift-metrics has no help text; Prometheus shows it next to the series.)
    static func addingHelp(to exposition: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(exposition.count + help.count * 96)
        let typePrefix = Array("# TYPE ".utf8)
        var lineStart = 0
        while lineStart < exposition.count {
            let lineEnd = exposition[lineStart...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? exposition.count
            let line = exposition[lineStart..<lineEnd]
            if line.starts(with: typePrefix) {
                let nameEnd = line.dropFirst(typePrefix.count).firstIndex(of: UInt8(ascii: " ")) ?? lineEnd
                let name = String(decoding: exposition[(lineStart + typePrefix.count)..<nameEnd], as: UTF8.self)
                if let text = help[name] {
                    result += Array("# HELP \(name) \(text)\n".utf8)
                }
            }
            result += line
            lineStart = lineEnd
        }
        return result
    }
}
