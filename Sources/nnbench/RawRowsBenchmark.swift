import ArgumentParser
import Foundation
import NNCore
import NNFormat
import NNInference

/// What raw rows cost a model taking them: `Plan.rowBlock` encoding a request's text columns
/// (trim, gap spellings, number parsing, vocabulary lookups) against the same rows sent as
/// ready features, and the model run that follows both. Rows come from a real raw CSV.
struct RawRowsBenchmark {
    struct Result: Encodable {
        var model: String
        var rows: Int
        var columns: Int
        /// `Plan.rowBlock` of the text columns, per request.
        var encodeMicros: Double
        var lookupsPerSecond: Double
        /// `Plan.rowBlock` of the encoded features (what a numeric model's request costs there).
        var featuresMicros: Double
        /// The executor's run of the block.
        var runMicros: Double
        /// (encode + run) / (features + run): a raw request's cost over a numeric one's.
        var rawOverNumeric: Double
        var cpu: String
    }

    let stopwatch: Stopwatch

    func measure(model path: String, data: String, rows: Int) throws -> Result {
        let file = try ModelFile.read(from: path)
        let plan = try Plan(graph: file.graph, options: PlanOptions(maxRows: max(rows, 1)))
        let columns = plan.requestInputs.filter { $0.column != nil }.map(\.name)
        guard !columns.isEmpty, plan.requestInputs.count == columns.count else {
            throw ValidationError("\(path) does not take raw rows only (its request inputs: \(plan.requestInputs.map(\.name).joined(separator: ", ")))")
        }
        var text = try String(contentsOfFile: data, encoding: .utf8)
        let records = try text.withUTF8 { try CSVReader.records($0) }.filter { !$0.isBlank }
        guard let header = records.first?.fields, records.count > rows else { throw ValidationError("\(data) has fewer than \(rows) rows") }
        let indices = try columns.map { column in
            guard let index = header.firstIndex(of: column) else { throw ValidationError("\(data) has no column '\(column)'") }
            return index
        }
        let body = records.dropFirst().prefix(rows)
        let given = zip(columns, indices).map { column, index in
            NamedInput(name: column, shape: [Int64(rows), 1], text: body.map { $0.fields[index] })
        }
        let limits = RequestLimits(maxRows: rows, maxOutputValues: .max)
        let block = try plan.rowBlock(given, outputs: [], limits: limits)
        let features = zip(plan.inputs, block.inputs).map { binding, values in
            NamedInput(name: binding.name, shape: [Int64(rows), Int64(binding.width)], values: values)
        }
        let executor = Executor(plan: plan)
        let encode = stopwatch.secondsPerCall { _ = try? plan.rowBlock(given, outputs: [], limits: limits) }
        let plain = stopwatch.secondsPerCall { _ = try? plan.rowBlock(features, outputs: [], limits: limits, encodedFeatures: true) }
        let run = stopwatch.secondsPerCall { _ = executor.run([block]) }
        return Result(model: file.name, rows: rows, columns: columns.count, encodeMicros: encode * 1e6,
                      lookupsPerSecond: Double(rows * columns.count) / encode, featuresMicros: plain * 1e6, runMicros: run * 1e6,
                      rawOverNumeric: (encode + run) / (plain + run), cpu: CPUDescription.current)
    }
}
