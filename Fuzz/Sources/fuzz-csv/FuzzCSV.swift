// libFuzzer target: nntrain's CSV reader. Invariant: parsed or refused with a DataError naming
// the line; a parsed table has header.count × rows finite values.
import NNTrain

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let table = try? CSVTable.parse(text, file: "fuzz.csv") else { return 0 }
    precondition(table.values.count == table.rowCount * table.header.count && table.values.allSatisfy(\.isFinite))
    return 0
}
