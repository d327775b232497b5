import Synchronization
import Swiftlet

/// One C call at a time per session or stream handle. The Swift objects refuse concurrent calls
/// themselves; this flag also covers what the C layer keeps beside them (report strings, series),
/// so every call on a handle — a run, a read of its outputs, report or logits — is BUSY while
/// another thread's call on it is in progress, never a torn read.
final class HandleLock: Sendable {
    private let flag = Atomic<Bool>(false)

    func run(_ what: String, _ body: () throws(SwiftletError) -> Void) throws(SwiftletError) {
        guard flag.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw SwiftletError.busy("this \(what) is already running a call on another thread; use one \(what) per thread")
        }
        defer { flag.store(false, ordering: .releasing) }
        try body()
    }
}
