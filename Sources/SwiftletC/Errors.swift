import CSwiftletABI
import Glibc
import Swiftlet

// The thread-local last-error message: one malloc'ed C string per thread, freed when replaced or when
// the thread exits.
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

nonisolated(unsafe) private let emptyMessage: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
    p.initialize(to: 0)
    return UnsafePointer(p)
}()

func setLastError(_ message: String) {
    let old = pthread_getspecific(errorKey)
    pthread_setspecific(errorKey, strdup(message))
    free(old)
}

func lastErrorPointer() -> UnsafePointer<CChar> {
    guard let p = pthread_getspecific(errorKey) else { return emptyMessage }
    return UnsafePointer(p.assumingMemoryBound(to: CChar.self))
}

/// Records the message and returns the status of an error.
func fail(_ status: Int32, _ message: String) -> swl_status {
    setLastError(message)
    return status
}

func fail(_ error: SwiftletError) -> swl_status {
    fail(status(of: error), error.message)
}

func status(of error: SwiftletError) -> swl_status {
    switch error {
    case .invalidArgument: SWL_ERR_INVALID_ARGUMENT
    case .io: SWL_ERR_IO
    case .format: SWL_ERR_FORMAT
    case .newerVersion: SWL_ERR_VERSION
    case .checksum: SWL_ERR_CHECKSUM
    case .unsupported: SWL_ERR_UNSUPPORTED
    case .shape: SWL_ERR_SHAPE
    case .busy: SWL_ERR_BUSY
    case .aborted: SWL_ERR_ABORTED
    case .budget: SWL_ERR_BUDGET
    case .outOfMemory: SWL_ERR_OUT_OF_MEMORY
    case .notFound: SWL_ERR_NOT_FOUND
    case .bufferTooSmall: SWL_ERR_BUFFER_TOO_SMALL
    case .state: SWL_ERR_STATE
    case .numeric: SWL_ERR_NUMERIC
    case .contextFull: SWL_ERR_CONTEXT_FULL
    case .internalError: SWL_ERR_INTERNAL
    }
}

/// Runs an entry point's body: a thrown SwiftletError becomes its status and message.
func guarded(_ body: () throws(SwiftletError) -> Void) -> swl_status {
    do {
        try body()
        return SWL_OK
    } catch {
        return fail(error)
    }
}

/// A handle whose calls run one at a time (a session, a stream, a detokenizer).
protocol ExclusiveHandle: AnyObject {
    /// What messages call it: "session", "stream", "detokenizer".
    static var noun: String { get }
    var lock: BusyFlag { get }
}

/// Runs a call on an exclusive handle: a NULL handle is refused under the name of the public function
/// called, a call made while another runs gets SWL_ERR_BUSY, and a thrown error becomes the status.
func exclusive<H: ExclusiveHandle>(
    _ handle: OpaquePointer?, _ type: H.Type, function: String = #function,
    _ body: (H) throws(SwiftletError) -> Void
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let h = object(handle, as: H.self) else { throw nullArgument(H.noun, function) }
        try h.lock.run(H.noun) { () throws(SwiftletError) in try body(h) }
    }
}

func nullArgument(_ name: String, _ function: String = #function) -> SwiftletError {
    let fn = function.split(separator: "(").first.map(String.init) ?? function
    return .invalidArgument("\(fn): '\(name)' must not be NULL")
}

@c @implementation
public func swl_status_name(_ status: swl_status) -> UnsafePointer<CChar>? {
    let name: StaticString
    switch status {
    case SWL_OK: name = "SWL_OK"
    case SWL_ERR_INVALID_ARGUMENT: name = "SWL_ERR_INVALID_ARGUMENT"
    case SWL_ERR_IO: name = "SWL_ERR_IO"
    case SWL_ERR_FORMAT: name = "SWL_ERR_FORMAT"
    case SWL_ERR_VERSION: name = "SWL_ERR_VERSION"
    case SWL_ERR_CHECKSUM: name = "SWL_ERR_CHECKSUM"
    case SWL_ERR_UNSUPPORTED: name = "SWL_ERR_UNSUPPORTED"
    case SWL_ERR_SHAPE: name = "SWL_ERR_SHAPE"
    case SWL_ERR_BUSY: name = "SWL_ERR_BUSY"
    case SWL_ERR_ABORTED: name = "SWL_ERR_ABORTED"
    case SWL_ERR_BUDGET: name = "SWL_ERR_BUDGET"
    case SWL_ERR_OUT_OF_MEMORY: name = "SWL_ERR_OUT_OF_MEMORY"
    case SWL_ERR_NOT_FOUND: name = "SWL_ERR_NOT_FOUND"
    case SWL_ERR_BUFFER_TOO_SMALL: name = "SWL_ERR_BUFFER_TOO_SMALL"
    case SWL_ERR_STATE: name = "SWL_ERR_STATE"
    case SWL_ERR_NUMERIC: name = "SWL_ERR_NUMERIC"
    case SWL_ERR_CONTEXT_FULL: name = "SWL_ERR_CONTEXT_FULL"
    case SWL_ERR_INTERNAL: name = "SWL_ERR_INTERNAL"
    default: name = "SWL_ERR_UNKNOWN"
    }
    return name.utf8Start.withMemoryRebound(to: CChar.self, capacity: name.utf8CodeUnitCount + 1) { $0 }
}

@c @implementation
public func swl_last_error() -> UnsafePointer<CChar>? {
    lastErrorPointer()
}

private let versionString: StaticString = "0.1.0"

@c @implementation
public func swl_version() -> UnsafePointer<CChar>? {
    versionString.utf8Start.withMemoryRebound(to: CChar.self, capacity: versionString.utf8CodeUnitCount + 1) { $0 }
}

@c @implementation
public func swl_abi_version() -> UInt32 {
    swiftletABIVersion
}

@c @implementation
public func swl_set_log_callback(
    _ callback: swl_log_callback?, _ max_level: Int32, _ user_data: UnsafeMutableRawPointer?
) {
    guard let callback else {
        Log.setHandler(nil, maxLevel: .error)
        return
    }
    let level = LogLevel(rawValue: min(max(max_level, 0), 3)) ?? .error
    let context = UInt(bitPattern: user_data)
    Log.setHandler(
        { level, message in
            message.withCString { callback(level.rawValue, $0, UnsafeMutableRawPointer(bitPattern: context)) }
        }, maxLevel: level)
}
