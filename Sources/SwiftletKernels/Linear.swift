extension Kernels {
    /// A PyTorch `Linear`: `y[rows, out] = x[rows, in] · Wᵀ + bias`, with `W` stored `[out, in]` and
    /// `bias` `[out]` optional. `y` must not overlap `x`. Large products are split over `pool`.
    public static func linear(
        _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, pool: WorkerPool? = nil
    ) {
        guard rows > 0, outFeatures > 0 else { return }
        // Start from the bias and let BLAS accumulate into it (beta = 1): one pass fewer over y.
        let beta: Float
        if let bias {
            for r in 0..<rows { (y + r * outFeatures).update(from: bias, count: outFeatures) }
            beta = 1
        } else {
            beta = 0
        }
        BLAS.sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures, alpha: 1,
            a: x, lda: max(inFeatures, 1), b: weight, ldb: max(inFeatures, 1),
            beta: beta, c: y, ldc: outFeatures, pool: pool)
    }

    /// Copies row `ids[i]` of `table[vocabularySize, dim]` to row `i` of `y[count, dim]`.
    /// Throws (before writing anything) if an id is outside `0..<vocabularySize`.
    public static func embedding(
        ids: UnsafePointer<Int32>, count: Int, table: UnsafePointer<Float>, vocabularySize: Int, dim: Int,
        into y: UnsafeMutablePointer<Float>
    ) throws(KernelError) {
        guard count > 0, dim > 0 else { return }
        for i in 0..<count where ids[i] < 0 || Int(ids[i]) >= vocabularySize {
            throw .indexOutOfRange(index: Int(ids[i]), bound: vocabularySize)
        }
        for i in 0..<count {
            (y + i * dim).update(from: table + Int(ids[i]) * dim, count: dim)
        }
    }
}
