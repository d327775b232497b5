import Glibc
import Synchronization
import Testing
@testable import SwiftletKernels

@Suite struct WorkerPoolTests {
  /// Every part runs exactly once per split, the caller's part on the caller's thread, the others
  /// elsewhere, over many consecutive splits (the steady state of a forward pass).
  @Test(arguments: [1, 2, 3])
  func everyPartRunsOncePerSplit(helpers: Int) throws {
    let pool = try #require(WorkerPool(helpers: helpers))
    #expect(pool.parts == helpers + 1)
    let caller = pthread_self()
    let counts = UnsafeMutablePointer<Int>.allocate(capacity: pool.parts)
    let onCaller = UnsafeMutablePointer<Bool>.allocate(capacity: pool.parts)
    defer { counts.deallocate(); onCaller.deallocate() }
    counts.initialize(repeating: 0, count: pool.parts)
    for _ in 0..<2000 {
      pool.split { part in
        counts[part] += 1
        onCaller[part] = pthread_equal(pthread_self(), caller) != 0
      }
      #expect(onCaller[0])
      for part in 1..<pool.parts { #expect(!onCaller[part]) }
    }
    for part in 0..<pool.parts { #expect(counts[part] == 2000) }
  }

  /// Parts really run at the same time: each waits until all have started (with a time limit, so a
  /// pool that ran them one after another fails instead of hanging).
  @Test func partsRunConcurrently() throws {
    let pool = try #require(WorkerPool(helpers: 2))
    let started = Atomic<Int>(0)
    let allMet = Atomic<Int>(0)
    pool.split { _ in
      started.wrappingAdd(1, ordering: .acquiringAndReleasing)
      var waited = 0
      while started.load(ordering: .acquiring) < 3 && waited < 2_000 {
        usleep(1000)
        waited += 1
      }
      if started.load(ordering: .acquiring) == 3 { allMet.wrappingAdd(1, ordering: .relaxed) }
    }
    #expect(allMet.load(ordering: .relaxed) == 3)
  }

  /// A helper that went to sleep (idle longer than its spin) wakes up for the next job.
  @Test func helpersWakeUpAfterSleeping() throws {
    let pool = try #require(WorkerPool(helpers: 1))
    for _ in 0..<3 {
      usleep(20_000)
      let sum = Atomic<Int>(0)
      pool.split { part in sum.wrappingAdd(part + 1, ordering: .relaxed) }
      #expect(sum.load(ordering: .relaxed) == 3)
    }
  }

  /// A split from inside a body, or from another thread while the pool is busy, runs its parts on
  /// the calling thread: same results, no deadlock.
  @Test func busyPoolRunsNestedSplitsInline() throws {
    let pool = try #require(WorkerPool(helpers: 1))
    let total = Atomic<Int>(0)
    pool.split { outer in
      pool.split { inner in total.wrappingAdd(10 * outer + inner + 1, ordering: .relaxed) }
    }
    // Parts (outer, inner): (0,0)=1, (0,1)=2, (1,0)=11, (1,1)=12.
    #expect(total.load(ordering: .relaxed) == 26)
  }

  @Test func concurrentCallersAllGetTheirParts() throws {
    let pool = try #require(WorkerPool(helpers: 1))
    let callers = 4
    let caller = Caller(pool: pool, splits: 500)
    let box = Unmanaged.passRetained(caller)
    defer { box.release() }
    var threads: [pthread_t] = []
    for _ in 0..<callers {
      var t = pthread_t()
      let rc = pthread_create(&t, nil, { context in
        let c = Unmanaged<Caller>.fromOpaque(context!).takeUnretainedValue()
        for _ in 0..<c.splits { c.pool.split { part in c.total.wrappingAdd(part + 1, ordering: .relaxed) } }
        return nil
      }, box.toOpaque())
      try #require(rc == 0)
      threads.append(t)
    }
    for t in threads { pthread_join(t, nil) }
    #expect(caller.total.load(ordering: .relaxed) == callers * caller.splits * 3)
  }

  @Test func noHelpersMeansOnePartOnTheCaller() throws {
    for count in [0, -3] {
      let pool = try #require(WorkerPool(helpers: count))
      #expect(pool.parts == 1)
      var seen: [Int] = []
      pool.split { seen.append($0) }
      #expect(seen == [0])
    }
  }

  /// Pools come and go (each stops and joins its threads) without leaking a stuck thread.
  @Test func poolsStopTheirThreads() throws {
    for i in 0..<50 {
      let pool = try #require(WorkerPool(helpers: 2))
      if i % 2 == 0 {
        let sum = Atomic<Int>(0)
        pool.split { sum.wrappingAdd($0, ordering: .relaxed) }
        #expect(sum.load(ordering: .relaxed) == 3)
      }
    }
  }

  @Test func blocksCoverTheRangeInAlignedPieces() {
    for count in [0, 1, 15, 16, 17, 48, 192, 1000] {
      for parts in 1...4 {
        for align in [1, 16, 32] {
          var next = 0
          for part in 0..<parts {
            let r = WorkerPool.block(part, of: parts, count, align: align)
            #expect(r.lowerBound == next)
            if r.upperBound < count { #expect(r.count % align == 0) }
            next = r.upperBound
          }
          #expect(next == count)
        }
      }
    }
  }
}

/// What each calling thread of `concurrentCallersAllGetTheirParts` shares.
private final class Caller: Sendable {
  let pool: WorkerPool
  let total = Atomic<Int>(0)
  let splits: Int
  init(pool: WorkerPool, splits: Int) {
    self.pool = pool
    self.splits = splits
  }
}
