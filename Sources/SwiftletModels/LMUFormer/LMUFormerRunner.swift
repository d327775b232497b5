/// Whole-clip runs: `x` [B, T, F] → `logits` [B, K] (the mean-over-time head, test_mode 'normal')
/// and `logits_per_step` [B, T, K] (the head of the running mean after every frame, 'all_seq').
final class LMUFormerRunner: FamilyRunner {
    let model: LMUFormerModel
    let context: ExecutionContext
    let engine: LMUFormerEngine
    /// Calibrated by every run; predicts a clip's time for a latency budget.
    var latency = LatencyModel(microsecondsPerGFLOP: 20_000)

    init(model: LMUFormerModel, context: ExecutionContext) {
        self.model = model
        self.context = context
        // 128 frames per step: a Speech Commands clip is one step, its memory one Toeplitz product.
        engine = LMUFormerEngine(model: model, cap: 128, streaming: false, pool: context.pool)
    }

    func run(_ inputs: [TensorView], budget: Budget) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(
                .invalidArgument,
                "lmuformer takes one input ('x', [batch, frames, \(model.features)]), got \(inputs.count)")
        }
        let x = inputs[0]
        try x.validate(against: model.inputs[0])
        let batch = x.shape[0]
        let frames = x.shape[1]
        guard batch >= 1, frames >= 1 else {
            throw ModelError(.shape, "input 'x' needs at least one clip of at least one frame, got shape \(x.shape)")
        }
        try checkBudget(budget, frames: batch * frames)
        let start = monotonicMicroseconds()
        let f = model.features
        let k = model.classes
        var steps = Tensor(zeros: [batch, frames, k])
        var spikes = [Int](repeating: 0, count: model.lifLayers.count)
        var active = [Double](repeating: 0, count: model.depth)
        var flops = 0.0
        let source = x.floats.baseAddress!
        try steps.values.withUnsafeMutableBufferPointer { (out) throws(ModelError) in
            for b in 0..<batch {
                engine.reset()
                var fed = 0
                var rows = 0
                while true {
                    let n = min(engine.cap, frames - fed)
                    let final = fed + n == frames
                    rows += try engine.process(
                        source + (b * frames + fed) * f, count: n, final: final,
                        into: out.baseAddress! + (b * frames + rows) * k, context: context)
                    fed += n
                    if final { break }
                }
                guard rows == frames else {
                    throw ModelError(.internalError, "lmuformer emitted \(rows) rows for \(frames) frames")
                }
                for i in spikes.indices { spikes[i] += engine.spikes[i] }
                for (n, v) in engine.uActiveFractions().enumerated() { active[n] += v / Double(batch) }
                flops += engine.flops
            }
        }
        var logits = Tensor(zeros: [batch, k])
        for b in 0..<batch {
            for j in 0..<k { logits.values[b * k + j] = steps.values[(b * frames + frames - 1) * k + j] }
        }
        let elapsed = monotonicMicroseconds() - start
        latency.observe(gflops: model.gflopsPerFrame * Double(batch * frames), microseconds: elapsed)
        context.report.layers = model.depth
        context.report.framesUsed = frames
        context.report.gflops = flops * 1e-9
        context.report.choice = "whole clip: \(batch) × \(frames) frames"
        if !spikes.isEmpty {
            let total = Double(batch * frames)
            context.report.values["spike_rate"] = spikes.indices.map {
                Double(spikes[$0]) / (total * Double(model.lifLayers[$0].width))
            }
        }
        context.report.values["u_active_fraction"] = active
        return [logits, steps]
    }

    /// LMUFormer has one setting per clip: limits are checked, not traded against quality.
    private func checkBudget(_ budget: Budget, frames: Int) throws(ModelError) {
        try budget.validate(for: model, stream: false)
        try budget.refuseIfOver(
            gflops: model.gflopsPerFrame * Double(frames), latency: latency, what: "this run (\(frames) frames)",
            family: model.family, advice: " — stream the clip with an early decision instead")
    }
}
