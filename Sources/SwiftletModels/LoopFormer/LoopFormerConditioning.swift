import Glibc
import SwiftletKernels

/// The adaLN modulation of every (loop step, block) of one trajectory. The conditioning
/// c = TE_t(t) + TE_dt(dt) does not depend on the tokens, so these vectors are computed once per
/// trajectory and reused by every token, batch row and decode call.
final class LoopFormerModulation {
    let steps: [Double]
    /// [steps][blocks][4][C]: gate_msa, gate_mlp, 1 + scale_msa, 1 + scale_mlp (the scales with the
    /// official `1 +` already applied, which is what multiplies the normalised activations).
    let values: UnsafeMutablePointer<Float>
    let width: Int
    let blocks: Int

    init(model: LoopFormerModel, steps: [Double], pool: WorkerPool?) {
        self.steps = steps
        width = model.width
        blocks = model.blockCount
        let C = model.width
        let F = LoopFormerModel.frequencyFeatures
        let values = UnsafeMutablePointer<Float>.allocate(capacity: max(steps.count * blocks * 4 * C, 1))
        var features = [Float](repeating: 0, count: F)
        var hidden = [Float](repeating: 0, count: C)
        var c = [Float](repeating: 0, count: C)
        var e = [Float](repeating: 0, count: C)
        var m = [Float](repeating: 0, count: 4 * C)

        // TE(τ) = W2 · SiLU(W1 · [cos(τ f), sin(τ f)] + b1) + b2, into `out`.
        func embed(_ te: LoopFormerModel.TimestepEmbedder, _ tau: Float, into out: inout [Float]) {
            Self.frequencyFeatures(tau, maxPeriod: model.maxPeriod, into: &features)
            Kernels.linear(features, rows: 1, inFeatures: F, weight: te.w1, bias: te.b1, outFeatures: C, into: &hidden)
            hidden.withUnsafeMutableBufferPointer { Kernels.silu($0.baseAddress!, count: C) }
            Kernels.linear(hidden, rows: 1, inFeatures: C, weight: te.w2, bias: te.b2, outFeatures: C, into: &out)
        }

        // t and dt are float32 like the official `ti` tensor: t starts at 0 and advances after each step.
        var t: Float = 0
        for (s, step) in steps.enumerated() {
            let dt = Float(step)
            embed(model.timeEmbedder, t, into: &c)
            embed(model.dtEmbedder, dt, into: &e)
            for j in 0..<C { c[j] += e[j] }
            c.withUnsafeMutableBufferPointer { Kernels.silu($0.baseAddress!, count: C) }
            for (i, block) in model.blocks.enumerated() {
                c.withUnsafeBufferPointer { cp in
                    m.withUnsafeMutableBufferPointer { mp in
                        Kernels.gemv(
                            block.adaWeight, x: cp.baseAddress!, bias: block.adaBias, into: mp.baseAddress!,
                            pool: pool)
                    }
                }
                let base = (s * blocks + i) * 4 * C
                for j in 0..<(2 * C) { values[base + j] = m[j] }
                for j in (2 * C)..<(4 * C) { values[base + j] = 1 + m[j] }
            }
            t += dt
        }
        self.values = values
    }

    deinit { values.deallocate() }

    /// Offset of the 4C vectors of (step, block) in `values`.
    @inline(__always)
    func offset(step: Int, block: Int) -> Int { (step * blocks + block) * 4 * width }

    /// `[cos(τ·f_k), sin(τ·f_k)]` with f_k = exp(−ln(maxPeriod)·k/half), all in float32 as the
    /// official code computes it (τ unscaled: t and dt lie in [0, 1]).
    static func frequencyFeatures(_ tau: Float, maxPeriod: Float, into out: inout [Float]) {
        let half = out.count / 2
        let logPeriod = -Float(log(Double(maxPeriod)))
        for k in 0..<half {
            let freq = expf(logPeriod * Float(k) / Float(half))
            let a = tau * freq
            out[k] = cosf(a)
            out[half + k] = sinf(a)
        }
    }
}
