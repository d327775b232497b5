/// What one decode step costs on a session's threads: a fixed part (embedding, final norm, LM head)
/// plus one part per loop step, measured by timing decode steps of one and two loop steps at a known
/// number of keys; the per-step part follows the attention's growth with the keys by FLOP count.
///
/// A step of L loops is predicted as `fixed + L · perLoop(keys)`; `tail` widens that to the percentile
/// budgets plan for, from the ratios actual ÷ predicted of the session's recent decode steps.
///
/// The trajectory chosen at prefill holds for the whole generation (the K/V cache belongs to it), so
/// nothing can correct a step that runs slow; and decoding reads every weight per step, so it runs at
/// the speed of the memory, which on a shared machine moves by ±10 % within seconds (measured:
/// Benchmarks/README.md). Until the session has seen its own steps, the tail assumes 15 % on top.
struct LoopFormerDecodeCost {
    static let priorRatio = 1.15
    /// Microseconds of the part that does not loop.
    let fixed: Double
    /// Microseconds of one loop step at `keys` keys.
    let perLoop: Double
    let keys: Int
    /// Microseconds of one loop step of a prefill of `prefillTokens` tokens (for a whole-generation
    /// deadline); a prefill of T tokens and L steps is predicted as L times this, scaled by FLOPs.
    let prefillPerLoop: Double
    let prefillTokens: Int
    var tail = LatencyTail(prior: LoopFormerDecodeCost.priorRatio)

    /// Mean microseconds of a decode step with `loops` steps whose token attends `keys` keys.
    func predict(loops: Int, keys: Int, model: LoopFormerModel) -> Double {
        let scale = model.loopGFLOPs(keys: keys) / max(model.loopGFLOPs(keys: self.keys), 1e-12)
        return fixed + Double(loops) * perLoop * scale
    }

    /// The planned percentile (p95) of such a step.
    func predictTail(loops: Int, keys: Int, model: LoopFormerModel) -> Double {
        tail.tail(predict(loops: loops, keys: keys, model: model))
    }

    /// The planned percentile of a whole generation: a prefill of `prompt` tokens with `loops` steps,
    /// then `tokens` decode steps, each priced at the context the last one reaches.
    func predictGeneration(loops: Int, prompt: Int, tokens: Int, model: LoopFormerModel) -> Double {
        let perLoop = { (t: Int) in model.gflops(tokens: t, past: 0, loops: 1, headRows: 0) }
        let prefill = Double(loops) * prefillPerLoop * perLoop(prompt) / max(perLoop(prefillTokens), 1e-12)
        let decode =
            Double(tokens) * predict(loops: loops, keys: min(prompt + tokens, model.contextLength), model: model)
        return tail.tail(prefill + decode)
    }
}

extension LoopFormerModel {
    /// GFLOP of one loop step of one decoded token attending `keys` keys (the blocks, without the head).
    func loopGFLOPs(keys: Int) -> Double {
        let C = Double(width)
        let I = Double(hidden)
        return Double(blockCount) * (8 * C * C + 4 * C * I + 4 * C * Double(keys)) * 1e-9
    }
}
