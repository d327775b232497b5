/// Log levels (values match SWL_LOG_* in swiftlet.h).
public enum LogLevel: Int32, Sendable, Comparable {
    case error = 0
    case warn = 1
    case info = 2
    case debug = 3
    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

/// The process-wide log sink. Without a handler nothing is formatted or written.
public enum Log {
    public typealias Handler = @Sendable (LogLevel, String) -> Void

    private static let sink = Locked<(handler: Handler?, maxLevel: LogLevel)>((nil, .error))

    public static func setHandler(_ handler: Handler?, maxLevel: LogLevel) {
        sink.withLock { $0 = (handler, maxLevel) }
    }

    public static func write(_ level: LogLevel, _ message: @autoclosure () -> String) {
        let handler: Handler? = sink.withLock { $0.handler != nil && level <= $0.maxLevel ? $0.handler : nil }
        handler?(level, message())
    }
}
