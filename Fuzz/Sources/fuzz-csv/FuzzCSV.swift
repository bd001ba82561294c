// libFuzzer target: nntrain's CSV reader and the raw-column encoding learned from a table.
// Invariant: parsed or refused with a DataError naming the line; a parsed table has
// header.count × rows values, each finite or NaN (a gap or text), and text columns one field
// per row; an encoding learned from it is refused with a DataError or encodes every row into
// finite features.
@testable import NNTrain

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    // The first byte picks the delimiter (comma, semicolon or tab), so all three are read.
    let delimiter: UInt8 = size > 0 && bytes[0] % 3 == 1 ? 59 : size > 0 && bytes[0] % 3 == 2 ? 9 : 44
    guard let table = try? CSVTable.parse(bytes, file: "fuzz.csv", delimiter: delimiter) else { return 0 }
    precondition(table.values.count == table.rowCount * table.header.count && table.values.allSatisfy { $0.isFinite || $0.isNaN })
    precondition(table.text.values.allSatisfy { $0.count == table.rowCount } && table.text.keys.allSatisfy(table.header.indices.contains))
    let names = Array(Set(table.header)).sorted()
    guard !names.isEmpty else { return 0 }
    let spec = ModelSpec(inputs: [.init(name: "in", columns: names)], layers: [.init(name: "out", type: .dense, inputs: ["in"], units: 1)],
                         outputs: [.init(name: "fuzz_target_head", node: "out", loss: .mse, targets: [names[0]])])
    guard let encoding = try? TableEncoding.learn(table, spec: spec, featureColumns: ["in": names], rows: Array(0..<table.rowCount), warn: { _ in }),
          let columns = encoding.columns["in"] else { return 0 }
    if let features = try? encoding.features(of: "in", columns: columns, table: table) {
        precondition(features.count == table.rowCount * columns.reduce(0) { $0 + $1.width } && features.scalars.allSatisfy(\.isFinite))
    }
    return 0
}
