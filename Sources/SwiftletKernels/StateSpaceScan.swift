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
    public static func impulseResponse(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, stateSize n: Int,
        length: Int
    ) -> [Float] {
        guard n > 0, length > 0 else { return [] }
        // Before any OpenBLAS call: a multi-threaded one would leave its workers spinning beside the
        // session's threads after the model is loaded.
        BLAS.holdToOneThread()
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

    /// `Aᵀ, (A²)ᵀ, (A⁴)ᵀ, …, (A^(2^count))ᵀ`: `count + 1` matrices `[n, n]`, row-major, squared in double
    /// precision and rounded to float32. Transposed, a power is an input-major weight matrix: a row
    /// of states times it is a row of the next states. The matrices ``stateSpaceScan`` and
    /// ``stateSpaceStream`` use for free responses. A load-time helper.
    public static func transposedPowers(a: UnsafePointer<Float>, stateSize n: Int, count: Int) -> [Float] {
        guard n > 0, count >= 0 else { return [] }
        BLAS.holdToOneThread() // as in impulseResponse
        var current = (0..<(n * n)).map { Double(a[$0]) }
        var next = [Double](repeating: 0, count: n * n)
        var out = [Float](repeating: 0, count: n * n * (count + 1))
        for j in 0...count {
            if j > 0 {
                cblas_dgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1,
                    current, Int32(n), current, Int32(n), 0, &next, Int32(n))
                swap(&current, &next)
            }
            for r in 0..<n {
                for c in 0..<n { out[j * n * n + c * n + r] = Float(current[r * n + c]) }
            }
        }
        return out
    }

    /// Number of squarings ``stateSpaceScan`` needs for blocks of `blockLength` steps.
    public static func squaringsNeeded(blockLength: Int) -> Int {
        var p = 1
        var count = 0
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
    /// ``transposedPowers(a:stateSize:count:)`` with `count` (= `squaringCount`) at least
    /// ``squaringsNeeded(blockLength:)``, or nil: then a block that starts from a non-zero state is stepped one matrix-vector product at a
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
                    BLAS.sgemm(
                        transA: false, transB: false, m: rows, n: n, k: r0 + rows, alpha: 1,
                        a: toeplitz + r0 * len, lda: len, b: h, ldb: n, beta: 0, c: out + r0 * n, ldc: n)
                    r0 += rows
                }
                if !zero, let squarings {
                    // Free response of the carried state, rows A^(i+1) x_{t0−1}.
                    freeResponse(powers: squarings, stateSize: n, length: len, from: prev, into: free)
                    add(out, free, into: out, count: len * n)
                }
            }
            zero = false
            prev = UnsafePointer(out + (len - 1) * n)
            t0 += len
        }
        state.update(from: y + (steps - 1) * n, count: n)
    }

    /// The free response of a state: rows `A^(i+1) x` for `i < length` into `out[length, n]`, by
    /// doubling — row 0 = x·Aᵀ, then rows [p, 2p) = rows [0, p) · (A^p)ᵀ for p = 1, 2, 4, … — with
    /// `powers` from ``transposedPowers(a:stateSize:count:)`` (count at least
    /// ``squaringsNeeded(blockLength:)`` of `length`). The products go through the few-rows kernel,
    /// which reads each power once per 8 rows and needs no packing.
    public static func freeResponse(
        powers: UnsafePointer<Float>, stateSize n: Int, length: Int,
        from x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        guard length > 0, n > 0 else { return }
        func times(_ q: Int, rows: Int, from src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
            fewRowsLinear(
                src, rows: rows, inFeatures: n, ldx: n, weight: LinearWeights(powers + q * n * n, rowStride: n),
                bias: nil, outFeatures: n, into: dst, ldy: n, accumulate: false)
        }
        times(0, rows: 1, from: x, into: out)
        var p = 1
        var q = 0
        while p < length {
            times(q, rows: min(p, length - p), from: out, into: out + p * n)
            p *= 2
            q += 1
        }
    }

    /// The streaming form of ``stateSpaceScan(inputs:steps:a:b:stateSize:impulse:impulseLength:squarings:squaringCount:minBlockSteps:state:stateIsZero:into:scratch:)``:
    /// steps `x_t = A x_{t−1} + B u_t` for `steps` inputs `u`, writing `x_t` to row `t` of `y[steps, n]`,
    /// at a cost per step that does not read A. Time is cut into blocks of `impulseLength` (L) steps;
    /// within the block that started after state `x_{t0−1}`,
    ///   x_{t0+i} = A^(i+1) x_{t0−1} + Σ_{j≤i} H[j] u_{t0+i−j},
    /// so the block's free responses are computed once when it starts (by doubling, a burst of GEMMs
    /// once per L steps) and each step adds the impulse-response rows of its block's non-zero inputs.
    ///
    /// The caller owns the carried state: `start[n]` (`x_{t0−1}`, all zero when `startIsZero`),
    /// `position` (steps done in the block, `0..<L`), `history[L]` (the block's inputs, step i at
    /// index L−1−i), `free[L, n]` (the block's free responses, valid when `freeReady`; set `freeReady`
    /// to false after restoring a state so that they are recomputed). `powers` as in
    /// ``freeResponse(powers:stateSize:length:from:into:)``. Allocates nothing.
    public static func stateSpaceStream(
        inputs u: UnsafePointer<Float>, steps: Int, stateSize n: Int,
        impulse h: UnsafePointer<Float>, impulseLength l: Int, powers: UnsafePointer<Float>,
        start: UnsafeMutablePointer<Float>, startIsZero: inout Bool, position: inout Int,
        history: UnsafeMutablePointer<Float>, free: UnsafeMutablePointer<Float>, freeReady: inout Bool,
        into y: UnsafeMutablePointer<Float>
    ) {
        guard n > 0, l > 0 else { return }
        let impulse = LinearWeights(h, rowStride: n)
        for t in 0..<steps {
            if !startIsZero && !freeReady {
                freeResponse(powers: powers, stateSize: n, length: l, from: start, into: free)
                freeReady = true
            }
            let i = position
            history[l - 1 - i] = u[t]
            let row = y + t * n
            // x[j] = u_{t−j}: the block's inputs so far, newest first.
            sparseInputLinear(
                history + (l - 1 - i), rows: 1, inFeatures: i + 1, ldx: i + 1, weight: impulse,
                bias: startIsZero ? nil : UnsafePointer(free + i * n), outFeatures: n, into: row, ldy: n,
                accumulate: false, binary: false)
            position = i + 1
            if position == l {
                start.update(from: row, count: n)
                startIsZero = false
                position = 0
                freeReady = false
            }
        }
    }
}
