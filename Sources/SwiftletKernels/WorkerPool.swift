import Glibc
import Synchronization

/// Helper threads that run the parts of a job beside the caller: ``split(_:)`` runs `body(0)` on the
/// calling thread and `body(i)` on helper `i`, and returns when every part has finished.
///
/// Meant for a forward pass cut into many short steps (GEMM column blocks, attention query rows,
/// norms), each split between the cores, with BLAS single-threaded inside each part. Compared with
/// letting OpenBLAS thread the GEMMs, the steps between them (softmax, norms, merges) also run in
/// parallel, and no BLAS workers spin on the cores those steps need.
///
/// A helper picks up a job by spinning briefly (the next step of a pass follows within microseconds),
/// then sleeps on a condition variable, so an idle pool costs no CPU. The threads stop when the pool
/// is released.
///
/// A pool serves one job at a time. A ``split(_:)`` that finds the pool busy — called from another
/// thread meanwhile, or from inside a body — runs all its parts on the calling thread instead, so
/// the results are the same, only slower.
public final class WorkerPool: @unchecked Sendable {
  private let helpers: [Helper]
  private var threads: [pthread_t] = []
  private let busy = Atomic<Bool>(false)

  /// Starts `count` helper threads (none for `count` ≤ 0). Returns nil if the system refuses to
  /// start one (the threads already started are stopped).
  public init?(helpers count: Int) {
    helpers = (0..<max(count, 0)).map { _ in Helper() }
    let entry: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { context in
      Unmanaged<Helper>.fromOpaque(context!).takeRetainedValue().serve()
      return nil
    }
    for helper in helpers {
      // A thread holds a reference to its mailbox only, so the pool can go away and stop it.
      let context = Unmanaged.passRetained(helper)
      var thread = pthread_t()
      guard pthread_create(&thread, nil, entry, context.toOpaque()) == 0 else {
        context.release()
        stopThreads()
        return nil
      }
      threads.append(thread)
    }
  }

  deinit {
    stopThreads()
  }

  private func stopThreads() {
    for (helper, thread) in zip(helpers, threads) {
      helper.stop()
      pthread_join(thread, nil)
    }
    threads = []
  }

  /// Number of parts ``split(_:)`` runs: the helpers plus the caller.
  public var parts: Int { helpers.count + 1 }

  /// Runs `body(part)` for every part in `0..<parts`, part 0 on the calling thread, and returns when
  /// all have finished. Parts run concurrently, so they must write to disjoint memory.
  public func split(_ body: (Int) -> Void) {
    guard !helpers.isEmpty, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
      for part in 0..<parts { body(part) }
      return
    }
    defer { busy.store(false, ordering: .releasing) }
    withoutActuallyEscaping(body) { body in
      for (i, helper) in helpers.enumerated() { helper.post(body, part: i + 1) }
      body(0)
      for helper in helpers { helper.wait() }
    }
  }

  /// Part `part` of `0..<count` cut into `parts` nearly equal blocks whose sizes are multiples of
  /// `align` (the last block takes the rest; trailing blocks may be empty).
  public static func block(_ part: Int, of parts: Int, _ count: Int, align: Int = 1) -> Range<Int> {
    let parts = max(parts, 1), align = max(align, 1)
    let size = ((count + parts - 1) / parts + align - 1) / align * align
    let lo = min(part * size, count)
    return lo..<min(lo + size, count)
  }
}

/// The mailbox between the caller and one helper thread.
private final class Helper: @unchecked Sendable {
  private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
  private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
  private let posted = Atomic<Int>(0)
  private let finished = Atomic<Int>(0)
  private let stopping = Atomic<Bool>(false)
  private var sleeping = false  // guarded by `lock`
  private var job: ((Int) -> Void)?  // published by `posted`
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
        // Nothing arrived while spinning: sleep until `post` or `stop` signals. Checking again
        // under the lock pairs with `post`, which signals under it, so no wake-up is lost.
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
