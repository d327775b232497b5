import CSwiftletKernels

/// The threads of one session or stream (see `swk_pool.h`): ``run(parts:_:)`` runs the parts of a job
/// on the calling thread and the pool's helpers and returns when all are done. It is the one way the
/// kernels and families run work in parallel, so a session uses exactly the threads it was made with.
///
/// Parts go to whichever thread is free (a descheduled helper costs time, not a stall). A call made
/// from inside a part, or while another thread is using the pool, runs every part on the calling
/// thread: the same results, only slower. OpenBLAS is held to one thread while pools exist (see
/// ``BLAS/holdToOneThread()``): products are split by this pool instead.
public final class WorkerPool: @unchecked Sendable {
    /// The C pool; nil for one thread.
    public let raw: OpaquePointer?
    /// Threads a job runs on: the caller plus the helpers that started.
    public let threads: Int

    /// A pool of `threads` threads in all (the caller's included); 1 or less starts no helper.
    public init(threads: Int) {
        BLAS.holdToOneThread()
        raw = threads > 1 ? swk_pool_create(Int32(clamping: threads)) : nil
        self.threads = Int(swk_pool_threads(raw))
    }

    deinit {
        swk_pool_free(raw)
    }

    /// Runs `body(part)` for every part in `0..<parts` and returns when all have finished. Parts run
    /// concurrently: they must write disjoint memory.
    public func run(parts: Int, _ body: (Int) -> Void) {
        guard parts > 1, raw != nil else {
            for part in 0..<max(parts, 0) { body(part) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            var job = Job(body: escaping)
            withUnsafeMutablePointer(to: &job) { pointer in
                swk_pool_run(
                    raw, Int32(clamping: parts),
                    { context, part, _ in
                        context!.assumingMemoryBound(to: Job.self).pointee.body(Int(part))
                    }, pointer)
            }
        }
    }

    /// Runs the parts on `pool`, or one after another on the calling thread when there is none.
    public static func run(_ pool: WorkerPool?, parts: Int, _ body: (Int) -> Void) {
        if let pool {
            pool.run(parts: parts, body)
        } else {
            for part in 0..<max(parts, 0) { body(part) }
        }
    }

    /// How many threads ran parts since the last call (the caller counts as one); clears the record.
    public func takeThreadsUsed() -> Int {
        1 + swk_pool_take_used(raw).nonzeroBitCount
    }

    /// Microseconds callers spent waiting for helpers' parts since the last call; clears the record.
    public func takeWaitedMicroseconds() -> Double {
        Double(swk_pool_take_waited_ns(raw)) / 1000
    }

    /// Part `part` of `0..<count` cut into `parts` nearly equal blocks whose sizes are multiples of
    /// `align` (the last block takes the rest; trailing blocks may be empty).
    public static func block(_ part: Int, of parts: Int, _ count: Int, align: Int = 1) -> Range<Int> {
        let parts = max(parts, 1)
        let align = max(align, 1)
        let size = ((count + parts - 1) / parts + align - 1) / align * align
        let lo = min(part * size, count)
        return lo..<min(lo + size, count)
    }
}

/// The closure handed through the C pool's context pointer.
private struct Job {
    let body: (Int) -> Void
}
