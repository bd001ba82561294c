// libFuzzer target: config.pbtxt (protobuf text format). Invariant: parsed or refused with a
// FormatError; a parsed config printed as text parses to an equal config.
import NNFormat
import SwiftProtobuf

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let config = try? ModelConfigFile.parse(text, source: "fuzz") else { return 0 }
    let again = try! ModelConfigFile.parse(config.textFormatString(), source: "printed")
    precondition(again == config, "a config does not survive a text round trip")
    return 0
}
