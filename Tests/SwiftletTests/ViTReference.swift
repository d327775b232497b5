import Foundation

/// A deliberately plain float64 port of ToMe on timm's ViT / DeiT (tome/merge.py, tome/patch/timm.py),
/// written independently of the runtime (no BLAS, no shared code) so tests can check cases that have
/// no golden fixture, such as a distilled DeiT. It is itself checked against the fixture.
struct ViTReference {
    let p: [String: [Double]]
    let imageSize: Int, patch: Int, channels: Int, dim: Int, depth: Int, heads: Int, hidden: Int, classes: Int
    let distilled: Bool
    /// DeiT-III style: positions on the patches only.
    let noEmbedClass: Bool
    /// Applied to every input row of a weight product (patch rows, qkv, proj, fc1, fc2, heads) before
    /// it is multiplied: the activation rounding of a compact model, to emulate its arithmetic.
    var rowRounding: (([Double]) -> [Double])? = nil
    /// Applied to every element of q, k and v inside attention and to each unnormalised softmax weight
    /// e^(s − max) before it multiplies v (the sum that normalises them is of the unrounded ones): the
    /// bf16 attention of a compact model (`swk_attention_bf16`). The merge's keys stay unrounded.
    var attentionRounding: ((Double) -> Double)? = nil

    init(
        tensors: [String: [Float]], imageSize: Int, patch: Int, dim: Int, depth: Int, heads: Int,
        mlpRatio: Double, classes: Int, channels: Int = 3
    ) {
        p = tensors.mapValues { $0.map(Double.init) }
        self.imageSize = imageSize
        self.patch = patch
        self.channels = channels
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.hidden = Int(mlpRatio * Double(dim))
        self.classes = classes
        distilled = tensors["dist_token"] != nil
        let patches = (imageSize / patch) * (imageSize / patch)
        noEmbedClass = tensors["pos_embed"]!.count == patches * dim
    }

    /// ToMe's parse_r for the three spellings.
    static func parseR(_ r: [Int], depth: Int) -> [Int] {
        if r.count == 1 { return Array(repeating: r[0], count: depth) }
        if r.count == 2 && r[1] == -1 {
            let lo = Int(Double(r[0]) * 2)
            let hi = 2 * r[0] - lo
            let step = Double(hi - lo) / Double(depth - 1)
            return (0..<depth).map { Int(Double(lo) + step * Double($0)) }
        }
        return r + Array(repeating: 0, count: max(0, depth - r.count))
    }

    func layerNorm(_ x: [[Double]], _ name: String) -> [[Double]] {
        let w = p[name + ".weight"]!
        let b = p[name + ".bias"]!
        return x.map { row in
            let mean = row.reduce(0, +) / Double(row.count)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(row.count)
            let inv = 1 / (variance + 1e-6).squareRoot()
            return row.indices.map { (row[$0] - mean) * inv * w[$0] + b[$0] }
        }
    }

    func linear(_ x: [[Double]], _ name: String, out: Int) -> [[Double]] {
        let w = p[name + ".weight"]!
        let b = p[name + ".bias"]
        let inF = w.count / out
        return x.map { input in
            let row = rowRounding?(input) ?? input
            return (0..<out).map { o in
                var s = b?[o] ?? 0
                for i in 0..<inF { s += w[o * inF + i] * row[i] }
                return s
            }
        }
    }

    /// One image `[C, H, W]` → (logits, final normed tokens, sizes).
    func forward(_ image: [Float], r: [Int]) -> (logits: [Double], tokens: [[Double]], sizes: [Double]) {
        let g = imageSize / patch
        let hd = dim / heads
        // Patch embedding: conv with stride = kernel = patch.
        let wp = p["patch_embed.proj.weight"]!
        let bp = p["patch_embed.proj.bias"]!
        var x: [[Double]] = []
        for gy in 0..<g {
            for gx in 0..<g {
                var row = bp
                var pixels: [Double] = []
                for c in 0..<channels {
                    for kh in 0..<patch {
                        for kw in 0..<patch {
                            pixels.append(
                                Double(image[(c * imageSize + gy * patch + kh) * imageSize + gx * patch + kw]))
                        }
                    }
                }
                pixels = rowRounding?(pixels) ?? pixels
                for o in 0..<dim {
                    var s = 0.0
                    for (i, pix) in pixels.enumerated() { s += wp[o * pixels.count + i] * pix }
                    row[o] += s
                }
                x.append(row)
            }
        }
        let pos = p["pos_embed"]!
        let prefix: [[Double]] = distilled ? [p["cls_token"]!, p["dist_token"]!] : [p["cls_token"]!]
        if noEmbedClass {
            for t in x.indices { for j in 0..<dim { x[t][j] += pos[t * dim + j] } }
            x = prefix + x
        } else {
            x = prefix + x
            for t in x.indices { for j in 0..<dim { x[t][j] += pos[t * dim + j] } }
        }

        var size = Array(repeating: 1.0, count: x.count)
        var merged = false
        for (l, rl) in ReferenceSchedule(values: r, depth: depth).enumerated() {
            let pre = "blocks.\(l)."
            let n = x.count
            let qkv = linear(layerNorm(x, pre + "norm1"), pre + "attn.qkv", out: 3 * dim)
            var o = Array(repeating: Array(repeating: 0.0, count: dim), count: n)
            var metric = Array(repeating: Array(repeating: 0.0, count: hd), count: n)
            let rounding = attentionRounding ?? { $0 }
            let qkvA = attentionRounding == nil ? qkv : qkv.map { $0.map(rounding) }
            for h in 0..<heads {
                for i in 0..<n {
                    var logits = (0..<n).map { j -> Double in
                        var s = 0.0
                        for e in 0..<hd { s += qkvA[i][h * hd + e] * qkvA[j][dim + h * hd + e] }
                        return s / Double(hd).squareRoot() + (merged ? log(size[j]) : 0)
                    }
                    let m = logits.max()!
                    logits = logits.map { exp($0 - m) }
                    let z = logits.reduce(0, +)
                    for j in 0..<n {
                        let weight = rounding(logits[j])
                        for e in 0..<hd { o[i][h * hd + e] += weight / z * qkvA[j][2 * dim + h * hd + e] }
                    }
                }
                for t in 0..<n { for e in 0..<hd { metric[t][e] += qkv[t][dim + h * hd + e] / Double(heads) } }
            }
            let proj = linear(o, pre + "attn.proj", out: dim)
            for t in 0..<n { for j in 0..<dim { x[t][j] += proj[t][j] } }

            let protected = distilled ? 2 : 1
            let re = min(rl, (n - protected) / 2)
            if re > 0 {
                let m = metric.map { row -> [Double] in
                    let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
                    return row.map { $0 / norm }
                }
                let aIdx = Array(stride(from: 0, to: n, by: 2))
                let bIdx = Array(stride(from: 1, to: n, by: 2))
                var best: [Double] = []
                var match: [Int] = []
                for (ai, a) in aIdx.enumerated() {
                    var bv = -Double.infinity
                    var bi = 0
                    for (bj, b) in bIdx.enumerated() {
                        var s = zip(m[a], m[b]).map { $0 * $1 }.reduce(0, +)
                        if ai == 0 || (distilled && bj == 0) { s = -.infinity }
                        if s > bv {
                            bv = s
                            bi = bj
                        }
                    }
                    best.append(bv)
                    match.append(bi)
                }
                let order = best.indices.sorted { best[$0] != best[$1] ? best[$0] > best[$1] : $0 < $1 }
                let src = Array(order.prefix(re))
                let unm = order.dropFirst(re).sorted()
                var bx = bIdx.map { b in x[b].map { $0 * size[b] } }
                var bs = bIdx.map { size[$0] }
                for a in src {
                    let t = aIdx[a]
                    let d = match[a]
                    for j in 0..<dim { bx[d][j] += x[t][j] * size[t] }
                    bs[d] += size[t]
                }
                let unmRows = unm.map { x[aIdx[$0]] }
                let unmSizes = unm.map { size[aIdx[$0]] }
                let bRows = bx.indices.map { i in bx[i].map { $0 / bs[i] } }
                if distilled {
                    x = [unmRows[0], bRows[0]] + unmRows.dropFirst() + bRows.dropFirst()
                    size = [unmSizes[0], bs[0]] + unmSizes.dropFirst() + bs.dropFirst()
                } else {
                    x = unmRows + bRows
                    size = unmSizes + bs
                }
                merged = true
            }
            var hmid = linear(layerNorm(x, pre + "norm2"), pre + "mlp.fc1", out: hidden)
            hmid = hmid.map { $0.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }
            let mlp = linear(hmid, pre + "mlp.fc2", out: dim)
            for t in x.indices { for j in 0..<dim { x[t][j] += mlp[t][j] } }
        }
        let tokens = layerNorm(x, "norm")
        var logits = linear([tokens[0]], "head", out: classes)[0]
        if distilled {
            let second = linear([tokens[1]], "head_dist", out: classes)[0]
            logits = zip(logits, second).map { ($0 + $1) / 2 }
        }
        return (logits, tokens, size)
    }
}

/// parse_r as a sequence, so the reference reads like ToMe's `r.pop(0)` loop.
struct ReferenceSchedule: Sequence {
    let values: [Int], depth: Int
    func makeIterator() -> IndexingIterator<[Int]> {
        ViTReference.parseR(values, depth: depth).makeIterator()
    }
}
