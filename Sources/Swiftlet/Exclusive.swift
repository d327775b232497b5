import Glibc
import SwiftletKernels
import SwiftletModels
import Synchronization

/// One call at a time per session or stream: a second concurrent call — a run, or a read of what the
/// last run left — gets `.busy` instead of corrupting state or reading it half-written. The C layer
/// holds one per handle too, around what it keeps beside the Swift object (report strings, series).
public final class BusyFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func run<T>(_ what: String, _ body: () throws(SwiftletError) -> T) throws(SwiftletError) -> T {
        guard flag.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw SwiftletError.busy(
                "this \(what) is already running a call on another thread; use one \(what) per thread")
        }
        defer { flag.store(false, ordering: .releasing) }
        return try body()
    }
}

/// Thread count for compute: 0 means every online core.
func resolveThreads(_ n: Int) throws(SwiftletError) -> Int {
    guard n >= 0, n <= 1024 else {
        throw SwiftletError.invalidArgument("thread count must be between 0 (all cores) and 1024, got \(n)")
    }
    return n == 0 ? max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) : n
}

extension ExecutionContext {
    /// Runs one family call in this context: the report started and finished around it, model errors
    /// mapped to API errors.
    func perform(_ body: () throws(ModelError) -> Void) throws(SwiftletError) -> RunReport {
        begin()
        do {
            try body()
        } catch {
            _ = finish()
            throw SwiftletError(error)
        }
        return finish()
    }
}
