import CBLAS

/// Thin, row-major wrappers over OpenBLAS.
///
/// Sizes are `Int` for Swift callers and must fit in 32 bits (OpenBLAS is built with 32-bit indices).
public enum BLAS {
  /// Sets how many threads OpenBLAS uses (process-wide). Use 1 when the caller runs its own threads
  /// or processes one small frame at a time; OpenBLAS otherwise starts one thread per core.
  public static func setThreads(_ n: Int) {
    openblas_set_num_threads(Int32(clamping: max(n, 1)))
  }

  /// The number of threads OpenBLAS currently uses.
  public static var threads: Int { Int(openblas_get_num_threads()) }

  /// `C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C`, all row-major.
  ///
  /// `op(A)` is `A` (stored `[m, k]`, row stride `lda`) or, with `transA`, `Aᵀ` (`A` stored `[k, m]`).
  /// Likewise for `B` (`[k, n]`, or `[n, k]` with `transB`). A product with one row or one column is
  /// sent to `sgemv`, which OpenBLAS 0.3.21 does not do by itself and which is several times faster
  /// for that shape. With `k == 0`, `C` is scaled by `beta`. Empty products do nothing.
  public static func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
      scaleMatrix(c, rows: m, cols: n, ld: ldc, beta: beta)
      return
    }
    if m == 1 {
      // c[0, :] = op(B)ᵀ · a-row, with a's elements strided by lda when A is transposed.
      cblas_sgemv(
        CblasRowMajor, transB ? CblasNoTrans : CblasTrans,
        Int32(transB ? n : k), Int32(transB ? k : n), alpha, b, Int32(ldb),
        a, Int32(transA ? lda : 1), beta, c, 1)
      return
    }
    if n == 1 {
      // c[:, 0] = op(A) · b-column, with b's elements strided by ldb unless B is transposed.
      cblas_sgemv(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
        Int32(transA ? k : m), Int32(transA ? m : k), alpha, a, Int32(lda),
        b, Int32(transB ? 1 : ldb), beta, c, Int32(ldc))
      return
    }
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// `y = alpha · op(A) · x + beta · y` with `A` stored row-major `[rows, cols]` (row stride `lda`);
  /// `op(A)` is `Aᵀ` when `trans`. `x` and `y` are contiguous.
  public static func sgemv(
    trans: Bool, rows: Int, cols: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
    x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
  ) {
    guard rows > 0, cols > 0 else {
      let outCount = trans ? cols : rows
      if outCount > 0 { scaleMatrix(y, rows: 1, cols: outCount, ld: outCount, beta: beta) }
      return
    }
    cblas_sgemv(
      CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(rows), Int32(cols), alpha,
      a, Int32(lda), x, 1, beta, y, 1)
  }

  static func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, beta: Float) {
    for r in 0..<rows {
      let row = c + r * ld
      // BLAS semantics: beta == 0 overwrites, so garbage (even NaN) in C does not leak through.
      if beta == 0 {
        row.update(repeating: 0, count: cols)
      } else if beta != 1 {
        for j in 0..<cols { row[j] *= beta }
      }
    }
  }
}
