import Glibc
import Synchronization

/// The runner's own threads: with `threads` > 1 the forward pass splits every step (GEMM column
/// blocks, attention query rows, norms, GELU) into `threads` parts, part 0 on the caller and the
/// others on helper threads, with BLAS single-threaded inside each part.
///
/// Why not let OpenBLAS thread the GEMMs: its workers spin between calls on the cores the
/// single-threaded steps (softmax, GELU, norms) then have to share, and its threading of the small
/// per-head attention products is slower than one thread. Splitting everything ourselves keeps the
/// cores busy with useful work: on 2 cores DeiT-S runs 1.85× faster than on one, against 1.6× with
/// OpenBLAS threading the GEMMs.
final class WorkerPool {
    private let helpers: [HelperState]
    private var threads: [pthread_t] = []

    /// `count` helper threads; nil if the system refuses one (the caller then works alone).
    init?(helpers count: Int) {
        helpers = (0..<count).map { _ in HelperState() }
        let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
            Unmanaged<HelperState>.fromOpaque(context!).takeRetainedValue().serve()
            return nil
        }
        for helper in helpers {
            // A thread owns a reference to its mailbox only, so the pool can go away and stop it.
            let context = Unmanaged.passRetained(helper)
            var thread = pthread_t()
            guard pthread_create(&thread, nil, entry, context.toOpaque()) == 0 else {
                context.release()
                return nil
            }
            threads.append(thread)
        }
    }

    deinit {
        for (helper, thread) in zip(helpers, threads) {
            helper.stop()
            pthread_join(thread, nil)
        }
    }

    /// Number of parts `split` runs.
    var parts: Int { helpers.count + 1 }

    /// Runs `body(0)` here and `body(i)` on helper i; returns when all have finished.
    func split(_ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            for (i, helper) in helpers.enumerated() { helper.post(body, part: i + 1) }
            body(0)
            for helper in helpers { helper.wait() }
        }
    }
}

/// The mailbox between the caller and one helper thread. A posted job is picked up by spinning for a
/// short while (the next step of a forward pass follows within microseconds), then by sleeping on a
/// condition variable, so an idle session costs no CPU.
private final class HelperState {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let posted = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var sleeping = false                  // guarded by `lock`
    private var job: ((Int) -> Void)?             // published by `posted`
    private var part = 0
    /// Spin iterations before sleeping (~100 µs).
    private static let spins = 20_000

    init() {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(lock)
        wake.deallocate()
        lock.deallocate()
    }

    func post(_ body: @escaping (Int) -> Void, part: Int) {
        job = body
        self.part = part
        posted.wrappingAdd(1, ordering: .releasing)
        pthread_mutex_lock(lock)
        if sleeping { pthread_cond_signal(wake) }
        pthread_mutex_unlock(lock)
    }

    func wait() {
        let target = posted.load(ordering: .relaxed)
        var n = 0
        while finished.load(ordering: .acquiring) != target {
            n += 1
            if n > Self.spins { sched_yield() }
        }
        job = nil
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        pthread_mutex_lock(lock)
        pthread_cond_signal(wake)
        pthread_mutex_unlock(lock)
    }

    func serve() {
        var seen = 0
        while true {
            var n = 0
            while posted.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) && n < Self.spins {
                n += 1
            }
            if posted.load(ordering: .acquiring) == seen {
                // Nothing arrived while spinning: sleep until `post` or `stop` signals. Checking
                // again under the lock pairs with `post`, which signals under it, so no wake-up is lost.
                pthread_mutex_lock(lock)
                sleeping = true
                while posted.load(ordering: .acquiring) == seen && !stopping.load(ordering: .acquiring) {
                    pthread_cond_wait(wake, lock)
                }
                sleeping = false
                pthread_mutex_unlock(lock)
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = posted.load(ordering: .acquiring)
            do {
                // The reference must be gone before `finished` is published: the job may not outlive `split`.
                let body = job!
                body(part)
            }
            finished.store(seen, ordering: .releasing)
        }
    }
}
