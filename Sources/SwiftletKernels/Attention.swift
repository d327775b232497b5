extension Kernels {
    /// Upper bound on the score block held at once (floats); keeps it in L2 for long sequences.
    private static let attentionScoreBudget = 64 * 1024

    /// Scaled dot-product attention for one batch element, all heads:
    /// `out_h = softmax(scale · Q_h K_hᵀ + mask) · V_h` for each head `h` (the language models'
    /// attention; the ViT's, with ToMe's size bias, is `swk_attention` in C).
    ///
    /// - `q`, `k`, `v` and `out` are `[seq, heads · headDim]` with row strides `ldq`, `ldk`, `ldv`,
    ///   `ldo`. Head `h` occupies columns `h · headDim ..< (h + 1) · headDim`, so Q, K and V may be
    ///   column slices of one fused QKV buffer. `out` must not overlap the inputs.
    /// - With `causal`, query `i` sees keys `0 ... queryOffset + i` only; `queryOffset` is the number
    ///   of cached positions before the first query (KV-cached decoding).
    /// - With `seqK == 0` the output is zero.
    ///
    /// Scratch (at most 64 Ki floats, or one score row if longer) is taken from `scratch` and given back.
    public static func attention(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
        seqQ: Int, seqK: Int, heads: Int, headDim: Int, scale: Float, causal: Bool = false, queryOffset: Int = 0,
        scratch: Arena
    ) throws(KernelError) {
        guard heads > 0, headDim > 0 else {
            throw .invalidShape("attention: heads \(heads), headDim \(headDim) must be ≥ 1")
        }
        guard seqQ >= 0, seqK >= 0, queryOffset >= 0 else {
            throw .invalidShape("attention: seqQ \(seqQ), seqK \(seqK), queryOffset \(queryOffset) must be ≥ 0")
        }
        let width = heads * headDim
        guard ldq >= width, ldo >= width, ldk >= width, ldv >= width else {
            throw .invalidShape("attention: strides ldq \(ldq), ldk \(ldk), ldv \(ldv), ldo \(ldo) must be ≥ \(width)")
        }
        guard seqQ > 0 else { return }
        guard seqK > 0 else {
            for i in 0..<seqQ { (out + i * ldo).update(repeating: 0, count: width) }
            return
        }

        let tileRows = max(1, min(seqQ, attentionScoreBudget / seqK))
        let mark = scratch.mark()
        defer { scratch.release(to: mark) }
        let scores = scratch.floats(tileRows * seqK)

        for h in 0..<heads {
            let qh = q + h * headDim
            let kh = k + h * headDim
            let vh = v + h * headDim
            let oh = out + h * headDim
            var i0 = 0
            while i0 < seqQ {
                let rows = min(tileRows, seqQ - i0)
                // Under the causal mask the tile's last query sees the most keys; later keys are skipped.
                let keys = causal ? min(seqK, queryOffset + i0 + rows) : seqK
                BLAS.sgemm(
                    transA: false, transB: true, m: rows, n: keys, k: headDim, alpha: scale,
                    a: qh + i0 * ldq, lda: ldq, b: kh, ldb: ldk, beta: 0, c: scores, ldc: keys)
                for r in 0..<rows {
                    let row = scores + r * keys
                    let visible = causal ? min(keys, queryOffset + i0 + r + 1) : keys
                    softmaxRow(row, visible)
                    if visible < keys { (row + visible).update(repeating: 0, count: keys - visible) }
                }
                BLAS.sgemm(
                    transA: false, transB: false, m: rows, n: headDim, k: keys, alpha: 1,
                    a: scores, lda: keys, b: vh, ldb: ldv, beta: 0, c: oh + i0 * ldo, ldc: ldo)
                i0 += rows
            }
        }
    }
}
