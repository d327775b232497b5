import Synchronization
import Glibc
import SwiftletKernels
import SwiftletModels

/// One call at a time per session or stream: a second concurrent call gets `.busy` instead of
/// corrupting state.
final class BusyFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func run<T>(_ what: String, _ body: () throws(SwiftletError) -> T) throws(SwiftletError) -> T {
        guard flag.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw SwiftletError.busy("this \(what) is already running a call on another thread; use one \(what) per thread")
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

/// Runs a family call with the abort poll, BLAS threads and timing in place; maps errors. Streams pass
/// their own `control` so that a push allocates nothing.
func perform(threads: Int, abort: (@Sendable () -> Bool)?, control reused: RunControl? = nil,
             _ body: (RunControl) throws(ModelError) -> Void) throws(SwiftletError) -> RunReport {
    let control = reused ?? RunControl(shouldAbort: abort)
    control.reset()
    BLAS.setThreads(threads)
    let start = monotonicMicroseconds()
    do {
        try body(control)
    } catch {
        throw SwiftletError(error)
    }
    control.report.microseconds = monotonicMicroseconds() - start
    return control.report
}
