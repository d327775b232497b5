import CSwiftletKernels

extension Kernels {
  /// Runs `body(part)` for every part in `0..<parts` on the thread pool of the compact-weight kernels:
  /// part 0 on the calling thread, the others on pool threads (started on first use, then kept),
  /// and returns when all are done. `body` runs concurrently with itself: it must only write what its
  /// part owns. A call made while another thread uses the pool runs every part on the calling thread.
  /// `parts` is clamped to 1...64.
  public static func parallel(parts: Int, _ body: (Int) -> Void) {
    let n = min(max(parts, 1), 64)
    if n == 1 {
      body(0)
      return
    }
    withoutActuallyEscaping(body) { escapable in
      var job = ParallelJob(body: escapable)
      withUnsafeMutablePointer(to: &job) { pointer in
        swl_pool_run(Int32(n), { context, index, _ in
          context!.assumingMemoryBound(to: ParallelJob.self).pointee.body(Int(index))
        }, pointer)
      }
    }
  }
}

/// The closure handed through the C pool's context pointer.
private struct ParallelJob {
  let body: (Int) -> Void
}
