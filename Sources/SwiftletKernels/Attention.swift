extension Kernels {
  /// Upper bound on the score block held at once (floats); keeps it in L2 for long sequences.
  private static let attentionScoreBudget = 64 * 1024

  /// Scaled dot-product attention for one batch element, all heads:
  /// `out_h = softmax(scale · Q_h K_hᵀ + keyBias + mask) · V_h` for each head `h`.
  ///
  /// - `q` is `[seqQ, heads · headDim]` with row stride `ldq`; `k`, `v` are `[seqK, kvHeads · headDim]`
  ///   with row strides `ldk`, `ldv`; `out` is `[seqQ, heads · headDim]` with row stride `ldo`.
  ///   Head `h` occupies columns `h · headDim ..< (h + 1) · headDim`, so Q, K and V may be column
  ///   slices of one fused QKV buffer. `out` must not overlap the inputs.
  /// - `kvHeads` (default `heads`) allows grouped-query attention: query head `h` uses key/value
  ///   head `h / (heads / kvHeads)`.
  /// - `keyBias` (`[seqK]`, optional) is added to every score row, e.g. ToMe's log token sizes.
  /// - With `causal`, query `i` sees keys `0 ... queryOffset + i` only; `queryOffset` is the number
  ///   of cached positions before the first query (KV-cached decoding).
  /// - With `seqK == 0` the output is zero.
  ///
  /// Scratch (at most 64 Ki floats, or one score row if longer) is taken from `scratch` and given back.
  public static func attention(
    q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
    v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
    seqQ: Int, seqK: Int, heads: Int, kvHeads: Int? = nil, headDim: Int, scale: Float,
    keyBias: UnsafePointer<Float>? = nil, causal: Bool = false, queryOffset: Int = 0,
    scratch: Arena
  ) throws(KernelError) {
    let kvHeads = kvHeads ?? heads
    guard heads > 0, headDim > 0, kvHeads > 0, heads % kvHeads == 0 else {
      throw .invalidShape(
        "attention: heads \(heads), kvHeads \(kvHeads), headDim \(headDim) (heads must be a multiple of kvHeads)")
    }
    guard seqQ >= 0, seqK >= 0, queryOffset >= 0 else {
      throw .invalidShape("attention: seqQ \(seqQ), seqK \(seqK), queryOffset \(queryOffset) must be ≥ 0")
    }
    let width = heads * headDim, kvWidth = kvHeads * headDim
    guard ldq >= width, ldo >= width, ldk >= kvWidth, ldv >= kvWidth else {
      throw .invalidShape(
        "attention: strides ldq \(ldq), ldo \(ldo) must be ≥ \(width); ldk \(ldk), ldv \(ldv) ≥ \(kvWidth)")
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
    let group = heads / kvHeads

    for h in 0..<heads {
      let qh = q + h * headDim
      let kh = k + (h / group) * headDim
      let vh = v + (h / group) * headDim
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
          if let keyBias { zipVector(row, keyBias, row, visible) { $0 + $1 } }
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
