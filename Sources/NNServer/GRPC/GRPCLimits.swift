import NIOCore
import NNWire

/// What one gRPC connection may hold and how long it may take: the other fronts' limits
/// (`--max-frame-size`, `--header-timeout`, `--min-transfer-rate`, `--idle-timeout`) in the
/// form HTTP/2 needs them, per stream and per connection.
struct GRPCLimits: Sendable {
    /// Largest request message, without its 5-byte prefix.
    var maxMessageSize: Int
    /// The stream window the connection advertises (SETTINGS_INITIAL_WINDOW_SIZE) and the
    /// connection window it keeps open.
    var windowSize: Int
    /// A connection with no progress (no request frame in, no answer byte out) and no call
    /// computing for this long gets a GOAWAY and is closed.
    var idleTimeout: TimeAmount = .seconds(60)
    /// A call's message must be complete within this time of its HEADERS, or average
    /// `minBytesPerSecond` since them; the connection's HTTP/2 preface must arrive within it.
    var headerTimeout: TimeAmount = .seconds(10)
    var minBytesPerSecond = 32 * 1024
    /// Answer bytes waiting for the client's flow-control window past which the connection
    /// is closed (one answer of any size may wait alone: a large answer to a slow reader).
    var unreadAnswerLimit = 8 << 20
    /// Requests of one streaming call (ModelStreamInfer) computing or waiting for an earlier
    /// one's answer; at it, the stream's further messages wait in its body (its window shut
    /// once that holds a largest message) until answers make room.
    var streamedInFlight = 256

    init(maxMessageSize: Int, windowSize: Int) {
        self.maxMessageSize = maxMessageSize
        self.windowSize = windowSize
    }

    init(_ configuration: ServerConfiguration, windowSize: Int) {
        self.init(maxMessageSize: configuration.maxFrameSize, windowSize: windowSize)
        idleTimeout = .seconds(Int64(configuration.idleTimeoutSeconds))
        headerTimeout = .milliseconds(Int64(configuration.headerTimeoutSeconds * 1000))
        minBytesPerSecond = configuration.minTransferBytesPerSecond
    }

    /// Body bytes a connection buffers for incomplete messages before it stops reopening its
    /// window (the client then waits, as HTTP/2 means it to): one largest message and a
    /// window more, so a message of any allowed size completes while others wait.
    var bufferedLimit: Int { max(maxMessageSize + GRPCMessage.prefixSize + windowSize, 4 * windowSize) }

    /// How often the connection checks its deadlines.
    var checkInterval: TimeAmount {
        .nanoseconds(max(min(idleTimeout.nanoseconds, headerTimeout.nanoseconds) / 4, TimeAmount.milliseconds(50).nanoseconds))
    }
}
