/// Trajectory policy and budget choice.
///
/// A trajectory is a list of step sizes dt > 0 summing to 1; the stack of blocks runs once per step.
/// The budget picks it, in this order:
/// 1. `budget.trajectory`: used as given (any positive steps summing to 1, at most
///    `maxTrajectorySteps` of them).
/// 2. `budget.loops` = L in 1...max_model_loops: the most even split of max_model_loops units of
///    1/max_model_loops into L steps, larger steps first (L = 3 of 8 → 3/8, 3/8, 2/8). This is the
///    form of the short trajectories the model was trained on (multiples of 1/max_model_loops);
///    L > max_model_loops has no such split and is refused.
/// 3. `budget.maxGFLOPs` / `budget.maxLatencyMs` (per token): the largest L in 1...max_model_loops whose
///    per-token cost fits — FLOPs counted at the number of keys the call's last token attends (at
///    prefill with `generationTokens`, the last generated token's); the time is the p95 of a decode
///    step (`LoopFormerDecodeCost`: measured on this session's threads, widened by the spread of its
///    recent steps).
/// 4. Nothing: the full trajectory, max_model_loops steps of 1/max_model_loops (the official default).
extension LoopFormerModel {
    /// The most even trajectory of `loops` steps in units of 1/`maxLoops`, larger steps first.
    public static func evenTrajectory(loops: Int, maxLoops: Int) throws(ModelError) -> [Double] {
        guard maxLoops >= 1, (1...maxLoops).contains(loops) else {
            throw ModelError(
                .budget,
                "loops must be between 1 and \(maxLoops) (max_model_loops of this model), got \(loops); pass an explicit trajectory for other step sizes"
            )
        }
        let q = maxLoops / loops
        let r = maxLoops % loops
        let unit = Double(maxLoops)
        return (0..<loops).map { Double($0 < r ? q + 1 : q) / unit }
    }

    /// The trajectory the budget asks for; `keys` is the number of positions the call's last token
    /// attends (for a prefill with `generationTokens`, the last generated token's), `predict` gives the
    /// time the budget plans for at a number of loop steps (nil: no prediction yet).
    func chooseTrajectory(
        _ budget: Budget, keys: Int, predict: (Int) -> Double?
    ) throws(ModelError) -> [Double] {
        try budget.validate(for: self, stream: false)
        if let steps = budget.trajectory {
            guard steps.count <= Self.maxTrajectorySteps else {
                throw ModelError(
                    .budget, "a trajectory may have at most \(Self.maxTrajectorySteps) steps, got \(steps.count)")
            }
            return steps
        }
        if let loops = budget.loops {
            return try Self.evenTrajectory(loops: loops, maxLoops: maxLoops)
        }
        if budget.maxGFLOPs == nil && budget.maxLatencyMs == nil {
            return try Self.evenTrajectory(loops: maxLoops, maxLoops: maxLoops)
        }
        var loops = maxLoops
        while loops >= 1 {
            let g = gflopsPerToken(loops: loops, keys: keys)
            let fitsWork = budget.maxGFLOPs.map { g <= $0 } ?? true
            let fitsTime =
                budget.maxLatencyMs.map { limit in predict(loops).map { $0 <= limit * 1000 } ?? true } ?? true
            if fitsWork && fitsTime { return try Self.evenTrajectory(loops: loops, maxLoops: maxLoops) }
            loops -= 1
        }
        let g = gflopsPerToken(loops: 1, keys: keys)
        let ms = predict(1).map { ", predicted p95 \($0 / 1000) ms" } ?? ""
        throw ModelError(
            .budget,
            "the budget is below the cheapest setting: 1 loop step costs \(g) GFLOP per token\(ms) at \(keys) positions"
        )
    }

    /// Report text, e.g. "loops=3 (0.375,0.375,0.25)".
    static func describe(_ steps: [Double]) -> String {
        "loops=\(steps.count) (" + steps.map { "\($0)" }.joined(separator: ",") + ")"
    }
}
