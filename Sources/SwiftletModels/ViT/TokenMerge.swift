import Glibc
import SwiftletKernels

/// Scratch for matching and merging one image of at most `tokens` tokens, carved from an arena once
/// per run and reused by every image and layer.
struct MergeScratch {
    let metric: UnsafeMutablePointer<Float> // [tokens, headDim]: the A rows, then the B rows
    let scores: UnsafeMutablePointer<Float> // [ceil(T/2), floor(T/2)]
    let best: UnsafeMutablePointer<Float> // per A row: best score
    let match: UnsafeMutablePointer<Int32> // per A row: index of its best B row
    let target: UnsafeMutablePointer<Int32> // per A row: B row it merges into, or -1
    let chosen: UnsafeMutablePointer<Int32> // the merged A rows, best first
    let total: UnsafeMutablePointer<Float> // per B row: size after the merge
    let hit: UnsafeMutablePointer<Int32> // per B row: 1 when something merged into it

    init(arena: Arena, tokens: Int, headDim: Int) {
        let a = (tokens + 1) / 2
        let b = tokens / 2
        metric = arena.floats(tokens * headDim)
        scores = arena.floats(max(a * b, 1))
        best = arena.floats(a)
        match = arena.ints(a)
        target = arena.ints(a)
        chosen = arena.ints(a)
        total = arena.floats(max(b, 1))
        hit = arena.ints(max(b, 1))
    }

    static func floats(tokens: Int, headDim: Int) -> Int {
        let a = (tokens + 1) / 2
        let b = tokens / 2
        return tokens * headDim + max(a * b, 1) + 5 * a + 2 * max(b, 1)
    }
}

/// ToMe's bipartite soft matching and size-weighted merge (`tome/merge.py`) for one image.
enum TokenMerge {
    /// Merges `r` (already capped, > 0) of the `tokens` rows of `x` and writes the `tokens − r` rows
    /// that remain to `out`, in ToMe's order, with their sizes.
    ///
    /// - `x`: `[tokens, dim]`, the residual stream after attention; `sizes`: `[tokens]`.
    /// - `keys`: row `t` at `keys + t·keyStride`, heads side by side (`heads · headDim` floats); the
    ///   metric is their mean over heads.
    /// - The class token (row 0) is never a source; with `distilled`, the distillation token (row 1)
    ///   is never a destination, and the output keeps it at row 1.
    static func merge(
        x: UnsafePointer<Float>, sizes: UnsafePointer<Float>, keys: UnsafePointer<Float>, keyStride: Int,
        tokens: Int, r: Int, dim: Int, heads: Int, headDim: Int, distilled: Bool,
        out: UnsafeMutablePointer<Float>, sizesOut: UnsafeMutablePointer<Float>, scratch s: MergeScratch
    ) {
        let na = (tokens + 1) / 2
        let nb = tokens / 2
        let metricA = s.metric
        let metricB = s.metric + na * headDim

        // Metric: keys summed over heads (the 1/heads of the mean cancels in the normalisation),
        // then divided by their norm; even tokens are A, odd tokens B.
        for t in 0..<tokens {
            let row = (t & 1 == 0 ? metricA : metricB) + (t >> 1) * headDim
            let k = keys + t * keyStride
            row.update(from: k, count: headDim)
            for h in 1..<max(heads, 1) { Kernels.add(row, k + h * headDim, into: row, count: headDim) }
            var norm: Float = 0
            for j in 0..<headDim { norm += row[j] * row[j] }
            let inv = 1 / norm.squareRoot()
            Kernels.scale(row, count: headDim, by: inv)
        }

        // Cosine similarity of every A row with every B row.
        BLAS.sgemm(
            transA: false, transB: true, m: na, n: nb, k: headDim, alpha: 1,
            a: metricA, lda: headDim, b: metricB, ldb: headDim, beta: 0, c: s.scores, ldc: nb)

        // Best B match of each A row (first index on ties). The class token's row is −∞; the
        // distillation token's column (B row 0) is skipped.
        let firstColumn = distilled ? 1 : 0
        s.best[0] = -.infinity
        s.match[0] = Int32(firstColumn)
        for a in 1..<max(na, 1) {
            let row = s.scores + a * nb
            var m = -Float.infinity
            var idx = firstColumn
            for j in firstColumn..<nb where row[j] > m {
                m = row[j]
                idx = j
            }
            s.best[a] = m
            s.match[a] = Int32(idx)
        }

        // The r A rows with the highest best score (a stable descending sort: equal scores keep
        // index order); NaN counts as −∞ so exactly r rows are always chosen.
        var count = 0
        @inline(__always) func key(_ a: Int) -> Float { s.best[a].isNaN ? -.infinity : s.best[a] }
        for a in 1..<max(na, 1) {
            let k = key(a)
            var pos: Int
            if count < r {
                pos = count
                count += 1
            } else if k > key(Int(s.chosen[r - 1])) {
                pos = r - 1
            } else {
                continue
            }
            while pos > 0 && key(Int(s.chosen[pos - 1])) < k {
                s.chosen[pos] = s.chosen[pos - 1]
                pos -= 1
            }
            s.chosen[pos] = Int32(a)
        }
        s.target.update(repeating: -1, count: na)
        for i in 0..<r {
            let a = Int(s.chosen[i])
            s.target[a] = s.match[a]
        }

        // Output order: [cls, (dist), kept A rows in original order, B rows].
        let keptA = na - r
        var p = 0
        for a in 0..<na where s.target[a] < 0 {
            let pos = distilled && a > 0 ? p + 1 : p
            (out + pos * dim).update(from: x + 2 * a * dim, count: dim)
            sizesOut[pos] = sizes[2 * a]
            p += 1
        }
        @inline(__always) func bRow(_ j: Int) -> Int { distilled && j == 0 ? 1 : keptA + j }
        for j in 0..<nb {
            (out + bRow(j) * dim).update(from: x + (2 * j + 1) * dim, count: dim)
            s.total[j] = sizes[2 * j + 1]
            s.hit[j] = 0
        }
        // Size-weighted average: (s_b·x_b + Σ s_a·x_a) / (s_b + Σ s_a).
        for i in 0..<r {
            let a = Int(s.chosen[i])
            let j = Int(s.target[a])
            let dst = out + bRow(j) * dim
            if s.hit[j] == 0 {
                s.hit[j] = 1
                if s.total[j] != 1 { Kernels.scale(dst, count: dim, by: s.total[j]) }
            }
            let sa = sizes[2 * a]
            Kernels.addScaled(x + 2 * a * dim, alpha: sa, into: dst, count: dim)
            s.total[j] += sa
        }
        for j in 0..<nb {
            let pos = bRow(j)
            sizesOut[pos] = s.total[j]
            if s.hit[j] != 0 { Kernels.scale(out + pos * dim, count: dim, by: 1 / s.total[j]) }
        }
    }
}
