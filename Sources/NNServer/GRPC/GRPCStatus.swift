/// A gRPC status: what the `grpc-status` and `grpc-message` trailers of a response say.
/// Codes are gRPC's (doc/statuscodes.md); serving errors map to them as the binary protocol's
/// codes do.
struct GRPCStatus: Error, Equatable, Sendable {
    enum Code: Int, Sendable {
        case ok = 0
        case cancelled = 1
        case unknown = 2
        case invalidArgument = 3
        case deadlineExceeded = 4
        case notFound = 5
        case permissionDenied = 7
        case resourceExhausted = 8
        case unimplemented = 12
        case internalError = 13
        case unavailable = 14
        case unauthenticated = 16
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    init(_ error: ServingError) {
        let code: Code = switch error.code {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .resourceExhausted: .resourceExhausted
        case .deadlineExceeded: .deadlineExceeded
        case .unavailable: .unavailable
        case .internal, .unspecified, .UNRECOGNIZED: .internalError
        }
        self.init(code, error.message)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// `grpc-message` is percent-encoded UTF-8: bytes outside printable ASCII, and '%', as %XX.
    var encodedMessage: String {
        var encoded = ""
        encoded.reserveCapacity(message.utf8.count)
        for byte in message.utf8 {
            if byte >= 0x20 && byte <= 0x7E && byte != UInt8(ascii: "%") {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded += "%" + String(decoding: [Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return encoded
    }

    /// gRPC's timeout header ("100m", "5S", …: 1 to 8 digits and a unit) in microseconds; nil
    /// when it is not one. "0m" is 0: a deadline already past.
    static func microseconds(timeout header: String) -> Int64? {
        let digits = header.dropLast()
        guard let unit = header.last, (1...8).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let amount = Int64(digits) else { return nil }
        let perUnit: Double = switch unit {
        case "H": 3.6e9
        case "M": 6e7
        case "S": 1e6
        case "m": 1e3
        case "u": 1
        case "n": 1e-3
        default: -1
        }
        guard perUnit > 0 else { return nil }
        return Int64(min(Double(amount) * perUnit, 9e15).rounded(.up))
    }
}
