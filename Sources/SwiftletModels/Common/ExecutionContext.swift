import SwiftletKernels

/// Everything a call runs with, owned by one session or stream and handed to its family runner when
/// the runner is made: the thread count and the pool of those threads, the scratch arena, the clock
/// and an optional deadline, the abort poll, and the report being filled.
///
/// Families read the thread count and split work only through this context (`parallel`, or the
/// `pool` handed to kernels), never through a process-wide setting, so two sessions with different
/// thread counts used at the same time each keep theirs. Not thread-safe: the API layer runs one call
/// at a time per context.
public final class ExecutionContext {
    /// Threads a call may use (the caller's included).
    public let threads: Int
    /// The helper threads; `nil` for one thread. Kernels take it as their `pool:` argument.
    public let pool: WorkerPool?
    /// Scratch of the call in progress; families reset it at the start of a call.
    public let arena = Arena()
    /// Monotonic microseconds; replaceable so that tests can drive time.
    public let clock: () -> Double
    /// Absolute time on `clock` by which the call should end, or nil. Set by a runner from a latency
    /// budget (`callStart` + the limit); cleared when the next call begins.
    public var deadline: Double?
    /// What the call in progress chose and cost.
    public var report = RunReport()

    private let shouldAbort: (() -> Bool)?
    private let partArenas: [Arena]
    /// When the call in progress began, on `clock`.
    public private(set) var callStart = 0.0

    public init(threads: Int, shouldAbort: (() -> Bool)? = nil, clock: @escaping () -> Double = monotonicMicroseconds) {
        let pool = threads > 1 ? WorkerPool(threads: threads) : nil
        self.pool = pool
        self.threads = pool?.threads ?? 1
        partArenas = (0..<self.threads).map { _ in Arena() }
        self.shouldAbort = shouldAbort
        self.clock = clock
        BLAS.holdToOneThread()
    }

    /// Starts a call: a fresh report, the start time, the record of threads used cleared.
    public func begin() {
        report = RunReport()
        deadline = nil
        callStart = clock()
        _ = pool?.takeThreadsUsed()
    }

    /// Ends a call: the elapsed time and the threads that ran parts of it go into the report.
    @discardableResult
    public func finish() -> RunReport {
        let end = clock()
        report.microseconds = end - callStart
        report.deadlineMet = deadline.map { end <= $0 }
        report.threadsUsed = pool?.takeThreadsUsed() ?? 1
        return report
    }

    /// Called between layers, loop steps and frames: throws `.aborted` when the caller asked to stop.
    public func checkAbort(_ whereabouts: @autoclosure () -> String) throws(ModelError) {
        if let shouldAbort, shouldAbort() {
            report.completed = false
            throw ModelError(.aborted, "aborted by the abort callback \(whereabouts())")
        }
    }

    /// Runs `body(part)` for every part in `0..<parts` on this context's threads; parts must write
    /// disjoint memory.
    public func parallel(parts: Int, _ body: (Int) -> Void) {
        WorkerPool.run(pool, parts: parts, body)
    }

    /// A scratch arena for part `part` (< `threads`) of a parallel step: one per thread, made up
    /// front so that parts running at once only read this list.
    public func partArena(_ part: Int) -> Arena {
        partArenas[part]
    }
}
