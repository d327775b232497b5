import CBLAS

// A linear time-invariant state-space recurrence with a scalar input, x_t = A x_{t−1} + B u_t, run
// over a block of steps with matrix products instead of one matrix-vector product per step:
//   x_{t0+i} = Σ_{j≤i} H[i−j] u_{t0+j}  +  A^{i+1} x_{t0−1},   H[k] = A^k B.
// The first term is a lower-triangular Toeplitz matrix of the inputs times the impulse response (one
// GEMM per block); the second, the free response of the carried state, is built by doubling:
// rows [p, 2p) are rows [0, p) times (A^p)ᵀ, p = 1, 2, 4, …, so it is a handful of GEMMs too.

extension Kernels {
  /// The impulse response `h[k, :] = (A^k B)ᵀ` for `k < length`, as `[length, n]` floats, computed in
  /// double precision from the float32 `a[n, n]` and `b[n]`. A load-time helper: it returns an array.
  public static func impulseResponse(a: UnsafePointer<Float>, b: UnsafePointer<Float>, stateSize n: Int,
                                     length: Int) -> [Float] {
    guard n > 0, length > 0 else { return [] }
    let ad = (0..<(n * n)).map { Double(a[$0]) }
    var current = (0..<n).map { Double(b[$0]) }
    var next = [Double](repeating: 0, count: n)
    var out = [Float](repeating: 0, count: n * length)
    for k in 0..<length {
      for i in 0..<n { out[k * n + i] = Float(current[i]) }
      if k + 1 == length { break }
      cblas_dgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(n), 1, ad, Int32(n), current, 1, 0, &next, 1)
      swap(&current, &next)
    }
    return out
  }

  /// `A^2, A^4, …, A^(2^count)`, each `[n, n]` row-major, squared in double precision and rounded to
  /// float32: the matrices ``stateSpaceScan`` uses for the free response. A load-time helper.
  public static func matrixSquarings(a: UnsafePointer<Float>, stateSize n: Int, count: Int) -> [Float] {
    guard n > 0, count > 0 else { return [] }
    var current = (0..<(n * n)).map { Double(a[$0]) }
    var next = [Double](repeating: 0, count: n * n)
    var out = [Float](repeating: 0, count: n * n * count)
    for j in 0..<count {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                  current, Int32(n), current, Int32(n), 0, &next, Int32(n))
      swap(&current, &next)
      for i in 0..<(n * n) { out[j * n * n + i] = Float(current[i]) }
    }
    return out
  }

  /// Number of squarings ``stateSpaceScan`` needs for blocks of `blockLength` steps.
  public static func squaringsNeeded(blockLength: Int) -> Int {
    var p = 1, count = 0
    while 2 * p < blockLength {
      p *= 2
      count += 1
    }
    return count
  }

  /// Runs `x_t = A x_{t−1} + B u_t` for `steps` inputs `u`, writing `x_t` to row `t` of `y[steps, n]`.
  ///
  /// `state[n]` holds `x_{−1}` on entry and the last `x` on return; `stateIsZero` says the state is
  /// all zero (a fresh start), which skips its free response. `impulse` is ``impulseResponse(a:b:stateSize:length:)``
  /// with `impulseLength` rows; the steps are processed in blocks of that length. `squarings` is
  /// ``matrixSquarings(a:stateSize:count:)`` with at least ``squaringsNeeded(blockLength:)`` matrices,
  /// or nil: then a block that starts from a non-zero state is stepped one matrix-vector product at a
  /// time, as it is anyway when it has fewer than `minBlockSteps` steps. Scratch comes from `scratch`.
  public static func stateSpaceScan(
    inputs u: UnsafePointer<Float>, steps: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    stateSize n: Int, impulse h: UnsafePointer<Float>, impulseLength: Int,
    squarings: UnsafePointer<Float>?, squaringCount: Int, minBlockSteps: Int = 8,
    state: UnsafeMutablePointer<Float>, stateIsZero: Bool, into y: UnsafeMutablePointer<Float>, scratch: Arena
  ) {
    guard steps > 0, n > 0, impulseLength > 0 else { return }
    let mark = scratch.mark()
    defer { scratch.release(to: mark) }
    let block = impulseLength
    let toeplitz = scratch.floats(block * block)
    let free = scratch.floats(block * n)
    var zero = stateIsZero
    var prev: UnsafePointer<Float> = UnsafePointer(state)
    var t0 = 0
    while t0 < steps {
      let len = min(block, steps - t0)
      let out = y + t0 * n
      let canDouble = squarings != nil && squaringCount >= squaringsNeeded(blockLength: len)
      if !zero && (len < minBlockSteps || !canDouble) {
        // Step by step: one matrix-vector product per step.
        for i in 0..<len {
          let row = out + i * n
          let from: UnsafePointer<Float> = i == 0 ? prev : UnsafePointer(row - n)
          BLAS.sgemv(trans: false, rows: n, cols: n, alpha: 1, a: a, lda: n, x: from, beta: 0, y: row)
          addScaled(b, alpha: u[t0 + i], into: row, count: n)
        }
      } else {
        // The inputs' own contribution: lower-triangular Toeplitz(u) · H, by row blocks of 32 so
        // that the zero upper triangle is mostly skipped.
        for i in 0..<len {
          let row = toeplitz + i * len
          for j in 0...i { row[j] = u[t0 + i - j] }
          if i + 1 < len { (row + i + 1).update(repeating: 0, count: len - i - 1) }
        }
        var r0 = 0
        while r0 < len {
          let rows = min(32, len - r0)
          BLAS.sgemm(transA: false, transB: false, m: rows, n: n, k: r0 + rows, alpha: 1,
                     a: toeplitz + r0 * len, lda: len, b: h, ldb: n, beta: 0, c: out + r0 * n, ldc: n)
          r0 += rows
        }
        if !zero, let squarings {
          // Free response of the carried state, rows A^(i+1) x_{t0−1}, by doubling.
          BLAS.sgemv(trans: false, rows: n, cols: n, alpha: 1, a: a, lda: n, x: prev, beta: 0, y: free)
          var p = 1
          var power: UnsafePointer<Float> = a
          var q = 0
          while p < len {
            let count = min(p, len - p)
            BLAS.sgemm(transA: false, transB: true, m: count, n: n, k: n, alpha: 1, a: free, lda: n,
                       b: power, ldb: n, beta: 0, c: free + p * n, ldc: n)
            if 2 * p < len {
              power = squarings + q * n * n
              q += 1
            }
            p *= 2
          }
          add(out, free, into: out, count: len * n)
        }
      }
      zero = false
      prev = UnsafePointer(out + (len - 1) * n)
      t0 += len
    }
    state.update(from: y + (steps - 1) * n, count: n)
  }
}
