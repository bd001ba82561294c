import NIOHTTP1

/// What an endpoint answers: status, body and the headers that go with it.
struct HTTPReply: Sendable {
    var status: HTTPResponseStatus
    var body: [UInt8] = []
    var contentType = "application/json"
    var extraHeaders: [(String, String)] = []

    static func json(_ body: [UInt8], status: HTTPResponseStatus = .ok) -> HTTPReply {
        HTTPReply(status: status, body: body)
    }

    static func empty(_ status: HTTPResponseStatus = .ok) -> HTTPReply {
        HTTPReply(status: status)
    }

    static func error(_ error: HTTPError) -> HTTPReply {
        HTTPReply(status: error.status, body: JSONWriter.errorBody(error.message))
    }

    static func error(_ error: ServingError) -> HTTPReply {
        .error(HTTPError(error))
    }
}
