import NNFormat

/// A request that cannot be answered: the wire error code and a message naming the value.
public struct ServingError: Error, Equatable, CustomStringConvertible {
    public var code: Nnserve_ErrorCode
    public var message: String

    public init(_ code: Nnserve_ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    var response: Nnserve_Error {
        var error = Nnserve_Error()
        error.code = code
        error.message = message
        return error
    }
}

extension Result where Failure == ServingError {
    var outcome: RequestOutcome {
        switch self {
        case .success: .ok
        case .failure(let error): RequestOutcome(error.code)
        }
    }
}
