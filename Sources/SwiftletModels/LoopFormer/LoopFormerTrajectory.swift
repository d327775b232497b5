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
///
/// With a quality profile (`swiftlet profile`), limits or `budget.minQuality` choose among the profiled
/// trajectories first: the best-scoring one that fits, or with `minQuality` the cheapest that keeps it;
/// even and uneven trajectories compete alike. When no profiled one fits, step 3 takes over.
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
    ///
    /// `fitsDeadline` says whether a number of loop steps meets `budget.generationMs` (the runner
    /// prices the whole generation); it is not asked without that deadline.
    func chooseTrajectory(
        _ budget: Budget, keys: Int, predict: (Int) -> Double?, fitsDeadline: (Int) -> Bool = { _ in true }
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
        if budget.minQuality != nil, profile == nil {
            throw ModelError(
                .unsupported,
                "min_quality needs a model that carries a quality profile; measure one with `swiftlet profile`")
        }
        let limited = budget.maxGFLOPs != nil || budget.maxLatencyMs != nil || budget.generationMs != nil
        if let profile, limited || budget.minQuality != nil {
            if let steps = try chooseProfiled(profile, budget, keys: keys, predict: predict, fitsDeadline: fitsDeadline)
            {
                return steps
            }
        }
        if !limited {
            return try Self.evenTrajectory(loops: maxLoops, maxLoops: maxLoops)
        }
        var loops = maxLoops
        while loops >= 1 {
            let g = gflopsPerToken(loops: loops, keys: keys)
            let fitsWork = budget.maxGFLOPs.map { g <= $0 } ?? true
            let fitsTime =
                budget.maxLatencyMs.map { limit in predict(loops).map { $0 <= limit * 1000 } ?? true } ?? true
            let fitsWhole = budget.generationMs == nil || fitsDeadline(loops)
            if fitsWork && fitsTime && fitsWhole { return try Self.evenTrajectory(loops: loops, maxLoops: maxLoops) }
            loops -= 1
        }
        let g = gflopsPerToken(loops: 1, keys: keys)
        let ms = predict(1).map { ", predicted p95 " + formatted($0 / 1000, 3) + " ms" } ?? ""
        let whole =
            budget.generationMs != nil && !fitsDeadline(1) ? "; one loop step misses the generation deadline" : ""
        throw ModelError(
            .budget,
            "the budget is below the cheapest setting: 1 loop step costs \(formatted(g, 4)) GFLOP per token\(ms) at \(keys) positions\(whole)"
        )
    }

    /// Among the profiled trajectories that fit the limits (and keep `minQuality`), the best-scoring
    /// one — or, with `minQuality`, the cheapest; nil when none fits and no minimum quality was asked
    /// (the even-trajectory search then takes over).
    private func chooseProfiled(
        _ profile: [(entry: QualityProfile.Entry, steps: [Double])], _ budget: Budget, keys: Int,
        predict: (Int) -> Double?, fitsDeadline: (Int) -> Bool
    ) throws(ModelError) -> [Double]? {
        var fitting: [(steps: [Double], quality: Double, cost: Double)] = []
        for (entry, steps) in profile {
            let g = gflopsPerToken(loops: steps.count, keys: keys)
            let fitsWork = budget.maxGFLOPs.map { g <= $0 } ?? true
            let fitsTime =
                budget.maxLatencyMs.map { limit in predict(steps.count).map { $0 <= limit * 1000 } ?? true } ?? true
            guard fitsWork && fitsTime && (budget.generationMs == nil || fitsDeadline(steps.count)) else { continue }
            fitting.append((steps, entry.quality, predict(steps.count) ?? g))
        }
        if let floor = budget.minQuality {
            let keeping = fitting.filter { $0.quality >= floor - 1e-12 }
            if let best = keeping.min(by: { ($0.cost, -$0.quality) < ($1.cost, -$1.quality) }) { return best.steps }
            throw ModelError(
                .budget,
                "no profiled trajectory keeps \(formatted(floor * 100, 1)) % of full quality within the limits (the best keeps \(formatted((profile.map(\.entry.quality).max() ?? 0) * 100, 1)) %)"
            )
        }
        return fitting.max { ($0.quality, -$0.cost) < ($1.quality, -$1.cost) }?.steps
    }

    /// Report text, e.g. "loops=3 (0.375,0.375,0.25)".
    static func describe(_ steps: [Double]) -> String {
        "loops=\(steps.count) (" + steps.map { "\($0)" }.joined(separator: ",") + ")"
    }
}
