import CBLAS

/// Thin, row-major wrappers over OpenBLAS.
///
/// Sizes are `Int` for Swift callers and must fit in 32 bits (OpenBLAS is built with 32-bit indices).
public enum BLAS {
    /// Holds OpenBLAS to one thread, once per process. Swiftlet splits its products over the calling
    /// session's own pool (``WorkerPool``), so each session uses exactly its thread count; OpenBLAS's
    /// setting is process-wide and its idle workers would spin beside the pool's on the same cores.
    public static func holdToOneThread() {
        _ = heldToOneThread
    }

    private static let heldToOneThread: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Below this many multiply-adds a product is one call: a split costs microseconds.
    static let parallelWork = 1 << 18
    /// A large product is cut into at most this many blocks, whatever the thread count.
    static let maxBlocks = 8

    /// `C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C`, all row-major.
    ///
    /// `op(A)` is `A` (stored `[m, k]`, row stride `lda`) or, with `transA`, `Aᵀ` (`A` stored `[k, m]`).
    /// Likewise for `B` (`[k, n]`, or `[n, k]` with `transB`). A product with one row or one column is
    /// sent to `sgemv`, which OpenBLAS 0.3.21 does not do by itself and which is several times faster
    /// for that shape. With `k == 0`, `C` is scaled by `beta`. Empty products do nothing.
    ///
    /// A large product is cut into blocks of columns (or of rows, when C is narrow) that depend only on
    /// its shape, and the blocks run on `pool`'s threads — or one after another without a pool. OpenBLAS
    /// picks its code path by size, so cutting by thread count would change the rounding; cutting by
    /// shape gives the same bits on any number of threads.
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, pool: WorkerPool? = nil
    ) {
        guard m > 0, n > 0 else { return }
        if m == 1, !transA {
            // One row (a decode step's head): a matrix-vector product, split by outputs.
            sgemv(
                trans: !transB, rows: transB ? n : k, cols: transB ? k : n, alpha: alpha, a: b, lda: ldb, x: a,
                beta: beta, y: c, pool: pool)
            return
        }
        if m > 1, n > 1, m * n * k >= parallelWork {
            if n >= 128 || n >= m {
                // Column blocks: each reads its own part of B (the weights, usually the larger operand).
                let size = blockSize(n, align: 64)
                WorkerPool.run(pool, parts: (n + size - 1) / size) { p in
                    let lo = p * size
                    let count = min(size, n - lo)
                    let b0 = transB ? b + lo * ldb : b + lo
                    gemm(
                        transA: transA, transB: transB, m: m, n: count, k: k, alpha: alpha, a: a, lda: lda,
                        b: b0, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                }
            } else {
                let size = blockSize(m, align: 16)
                WorkerPool.run(pool, parts: (m + size - 1) / size) { p in
                    let lo = p * size
                    let count = min(size, m - lo)
                    let a0 = transA ? a + lo : a + lo * lda
                    gemm(
                        transA: transA, transB: transB, m: count, n: n, k: k, alpha: alpha, a: a0, lda: lda,
                        b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
                }
            }
            return
        }
        gemm(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
            beta: beta, c: c, ldc: ldc)
    }

    /// The size of each of at most ``maxBlocks`` blocks covering `count`, a multiple of `align`.
    static func blockSize(_ count: Int, align: Int) -> Int {
        let each = (count + maxBlocks - 1) / maxBlocks
        return max(align, (each + align - 1) / align * align)
    }

    /// One OpenBLAS call (or a `sgemv` for one row or column).
    private static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
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
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>, pool: WorkerPool? = nil
    ) {
        if rows * cols >= parallelWork {
            // Blocks of outputs (rows of A, or with `trans` its columns), by shape as in `sgemm`.
            let outputs = trans ? cols : rows
            let size = blockSize(outputs, align: 64)
            WorkerPool.run(pool, parts: (outputs + size - 1) / size) { p in
                let lo = p * size
                let count = min(size, outputs - lo)
                if trans {
                    gemv(
                        trans: true, rows: rows, cols: count, alpha: alpha, a: a + lo, lda: lda, x: x, beta: beta,
                        y: y + lo)
                } else {
                    gemv(
                        trans: false, rows: count, cols: cols, alpha: alpha, a: a + lo * lda, lda: lda, x: x,
                        beta: beta,
                        y: y + lo)
                }
            }
            return
        }
        gemv(trans: trans, rows: rows, cols: cols, alpha: alpha, a: a, lda: lda, x: x, beta: beta, y: y)
    }

    private static func gemv(
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
