import Foundation
import NNFormat
import NNKServe
@testable import NNServer
import XCTest

/// The gRPC front's own conversions; the front itself is tested end to end with
/// tritonclient.grpc (Tests/python/test_kserve_grpc.py).
final class GRPCConversionTests: XCTestCase {
    func testTimeoutHeadersBecomeMicroseconds() {
        XCTAssertEqual(GRPCStatus.microseconds(timeout: "100m"), 100_000)
        XCTAssertEqual(GRPCStatus.microseconds(timeout: "2S"), 2_000_000)
        XCTAssertEqual(GRPCStatus.microseconds(timeout: "1M"), 60_000_000)
        XCTAssertEqual(GRPCStatus.microseconds(timeout: "1H"), 3_600_000_000)
        XCTAssertEqual(GRPCStatus.microseconds(timeout: "250u"), 250)
        XCTAssertEqual(GRPCStatus.microseconds(timeout: "1500n"), 2, "rounded up to whole microseconds, never to 0")
        XCTAssertNil(GRPCStatus.microseconds(timeout: "10x"))
        XCTAssertNil(GRPCStatus.microseconds(timeout: "S"))
        XCTAssertNil(GRPCStatus.microseconds(timeout: "-5S"))
        XCTAssertNil(GRPCStatus.microseconds(timeout: "123456789S"), "at most 8 digits")
    }

    func testVersionsAreEmptyOrPositive() throws {
        XCTAssertEqual(try KServeGRPCService.version(""), 0)
        XCTAssertEqual(try KServeGRPCService.version("3"), 3)
        XCTAssertThrowsError(try KServeGRPCService.version("0"))
        XCTAssertThrowsError(try KServeGRPCService.version("v1")) { error in
            XCTAssertEqual("\(error)", "model version 'v1' is not a positive integer")
        }
    }

    func testTypedContentsBecomeTheirDatatypesLittleEndianBytes() throws {
        var contents = Inference_InferTensorContents()
        contents.intContents = [1, -2, 300]
        XCTAssertEqual(try GRPCInferenceCodec.littleEndian(contents, datatype: "INT16", input: "x"), [1, 0, 0xFE, 0xFF, 0x2C, 0x01])
        contents = Inference_InferTensorContents()
        contents.fp32Contents = [1.5]
        XCTAssertEqual(try GRPCInferenceCodec.littleEndian(contents, datatype: "FP32", input: "x"), [0, 0, 0xC0, 0x3F])
        contents = Inference_InferTensorContents()
        contents.boolContents = [true, false]
        XCTAssertEqual(try GRPCInferenceCodec.littleEndian(contents, datatype: "BOOL", input: "x"), [1, 0])
        contents = Inference_InferTensorContents()
        contents.uint64Contents = [258]
        XCTAssertEqual(try GRPCInferenceCodec.littleEndian(contents, datatype: "UINT64", input: "x"), [2, 1, 0, 0, 0, 0, 0, 0])
        XCTAssertThrowsError(try GRPCInferenceCodec.littleEndian(contents, datatype: "FP16", input: "x")) { error in
            XCTAssertEqual("\(error)", "input 'x' is FP16, which has no typed contents field; send it in raw_input_contents")
        }
    }

    func testServingErrorsMapToTheirStatusCodes() {
        let pairs: [(Nnserve_ErrorCode, GRPCStatus.Code)] = [(.invalidArgument, .invalidArgument), (.notFound, .notFound),
                                                              (.resourceExhausted, .resourceExhausted), (.deadlineExceeded, .deadlineExceeded),
                                                              (.unavailable, .unavailable), (.internal, .internalError)]
        for (serving, status) in pairs {
            let error = GRPCStatus(ServingError(serving, "why"))
            XCTAssertEqual(error.code, status)
            XCTAssertEqual(error.message, "why")
        }
        XCTAssertEqual(GRPCStatus.Code.unavailable.rawValue, 14, "gRPC's numbers")
    }

    /// grpc-message is percent-encoded: printable ASCII but '%' stays, the rest is %XX of UTF-8.
    func testStatusMessagesArePercentEncoded() {
        XCTAssertEqual(GRPCStatus(.invalidArgument, "input 'x' has 7 features").encodedMessage, "input 'x' has 7 features")
        XCTAssertEqual(GRPCStatus(.invalidArgument, "100% → ok\n").encodedMessage, "100%25 %E2%86%92 ok%0A")
    }
}
