/// What one call may spend, and the per-family knobs. Every field is optional: explicit knobs win
/// over limits; with neither, the model runs at full quality.
public struct Budget: Sendable, Equatable {
    /// Wall-clock limit per call (per token for language models), milliseconds.
    public var maxLatencyMs: Double?
    /// Work limit per call (per token for language models), GFLOP (a multiply-add counts 2).
    public var maxGFLOPs: Double?
    /// LoopFormer: number of loop steps.
    public var loops: Int?
    /// LoopFormer: explicit step sizes summing to 1 (overrides `loops`).
    public var trajectory: [Double]?
    /// Token merging: ToMe's r — one value (constant), `[r, -1]` (decreasing), or a per-layer list.
    public var mergeR: [Int]?
    /// Streams: decide once this fraction of `expectedFrames` has arrived.
    public var earlyFraction: Double?
    /// Streams: decide once the running top-1 minus top-2 score exceeds this.
    public var earlyMargin: Double?
    /// Streams: the number of frames a full input has.
    public var expectedFrames: Int?
    /// Language models, at prefill: the tokens the generation will add after the prompt, so that a
    /// per-token latency limit plans for the decode step at the context length the generation reaches.
    public var generationTokens: Int?
    /// Models with a quality profile: the least quality to keep, as a fraction (0, 1] of full
    /// quality; the cheapest profiled setting that keeps it is chosen.
    public var minQuality: Double?
    /// LoopFormer, at prefill: a deadline for the whole generation (the prefill and `generationTokens`
    /// decode steps), milliseconds.
    public var generationMs: Double?

    public init(
        maxLatencyMs: Double? = nil, maxGFLOPs: Double? = nil, loops: Int? = nil,
        trajectory: [Double]? = nil, mergeR: [Int]? = nil, earlyFraction: Double? = nil,
        earlyMargin: Double? = nil, expectedFrames: Int? = nil, generationTokens: Int? = nil,
        minQuality: Double? = nil, generationMs: Double? = nil
    ) {
        self.maxLatencyMs = maxLatencyMs
        self.maxGFLOPs = maxGFLOPs
        self.loops = loops
        self.trajectory = trajectory
        self.mergeR = mergeR
        self.earlyFraction = earlyFraction
        self.earlyMargin = earlyMargin
        self.expectedFrames = expectedFrames
        self.generationTokens = generationTokens
        self.minQuality = minQuality
        self.generationMs = generationMs
    }

    /// Checks the fields every family shares; families check their own knobs.
    public func validateCommon() throws(ModelError) {
        if let v = maxLatencyMs, !(v.isFinite && v > 0) {
            throw ModelError(.budget, "max latency must be a positive number of milliseconds, got \(v)")
        }
        if let v = maxGFLOPs, !(v.isFinite && v > 0) {
            throw ModelError(.budget, "max GFLOPs must be a positive number, got \(v)")
        }
        if let v = loops, v < 1 {
            throw ModelError(.budget, "loops must be at least 1, got \(v)")
        }
        if let v = earlyFraction, !(v > 0 && v <= 1) {
            throw ModelError(.budget, "early fraction must be in (0, 1], got \(v)")
        }
        if let v = earlyMargin, !(v.isFinite && v > 0) {
            throw ModelError(.budget, "early margin must be a positive number, got \(v)")
        }
        if let v = expectedFrames, v < 1 {
            throw ModelError(.budget, "expected frames must be at least 1, got \(v)")
        }
        if let v = generationMs, !(v.isFinite && v > 0) {
            throw ModelError(.budget, "the generation deadline must be a positive number of milliseconds, got \(v)")
        }
        if let v = minQuality, !(v > 0 && v <= 1) {
            throw ModelError(.budget, "min quality must be a fraction in (0, 1] of full quality, got \(v)")
        }
        if let v = generationTokens, v < 1 {
            throw ModelError(.budget, "generation tokens must be at least 1, got \(v)")
        }
        if let t = trajectory {
            guard !t.isEmpty, t.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                throw ModelError(.budget, "a trajectory is a non-empty list of positive step sizes, got \(t)")
            }
            let sum = t.reduce(0, +)
            guard abs(sum - 1) < 1e-5 else {
                throw ModelError(.budget, "trajectory steps must sum to 1, got \(sum)")
            }
        }
    }
}

/// What a call chose and what it cost.
public struct RunReport: Sendable, Equatable {
    /// False if the call was aborted or a stream decided early.
    public var completed = true
    public var microseconds: Double = 0
    /// What the budget expected the call to take, at the percentile it plans for (p95); 0 when no
    /// prediction was made (no latency limit, or a family without a latency model).
    public var predictedMicroseconds: Double = 0
    /// With a latency limit: whether the call ended within it; nil without one.
    public var deadlineMet: Bool?
    /// With a quality profile: the chosen setting's quality as a fraction of full quality; nil when
    /// the model has no profile or the setting was not profiled.
    public var predictedQuality: Double?
    /// Threads that ran parts of the call (the caller's included): at most the session's count.
    public var threadsUsed = 1
    /// Work done, GFLOP (a multiply-add counts 2).
    public var gflops: Double = 0
    public var loops = 0
    public var layers = 0
    public var tokensKept = 0
    public var framesUsed = 0
    public var decided = false
    /// What the budget chose, in words, e.g. "r=8" or "loops=4".
    public var choice = ""
    /// Per-layer or per-step series, e.g. "tokens_per_layer", "spike_rate", "trajectory".
    public var values: [String: [Double]] = [:]

    public init() {}
}

/// The knobs of a `Budget`. Each family declares which it takes (`FamilyModel.sessionKnobs` and
/// `streamKnobs`); `Budget.validate(for:stream:)` refuses the others, with one message for all.
public enum BudgetKnob: Int, Sendable, CaseIterable, Comparable {
    case maxLatencyMs, maxGFLOPs, loops, trajectory, mergeR, earlyFraction, earlyMargin, expectedFrames
    case generationTokens, minQuality, generationMs

    /// The knob as the C header and the CLI name it.
    public var name: String {
        switch self {
        case .maxLatencyMs: return "max_latency_ms"
        case .maxGFLOPs: return "max_gflops"
        case .loops: return "loops"
        case .trajectory: return "trajectory"
        case .mergeR: return "merge_r"
        case .earlyFraction: return "early_fraction"
        case .earlyMargin: return "early_margin"
        case .expectedFrames: return "expected_frames"
        case .generationTokens: return "generation_tokens"
        case .minQuality: return "min_quality"
        case .generationMs: return "generation_ms"
        }
    }

    public static func < (a: BudgetKnob, b: BudgetKnob) -> Bool { a.rawValue < b.rawValue }
}

extension Budget {
    /// The knobs this budget sets.
    public var knobs: Set<BudgetKnob> {
        var k = Set<BudgetKnob>()
        if maxLatencyMs != nil { k.insert(.maxLatencyMs) }
        if maxGFLOPs != nil { k.insert(.maxGFLOPs) }
        if loops != nil { k.insert(.loops) }
        if trajectory != nil { k.insert(.trajectory) }
        if mergeR != nil { k.insert(.mergeR) }
        if earlyFraction != nil { k.insert(.earlyFraction) }
        if earlyMargin != nil { k.insert(.earlyMargin) }
        if expectedFrames != nil { k.insert(.expectedFrames) }
        if generationTokens != nil { k.insert(.generationTokens) }
        if minQuality != nil { k.insert(.minQuality) }
        if generationMs != nil { k.insert(.generationMs) }
        return k
    }

    /// Checks the shared fields, then that the family takes every knob set, for a session call or a
    /// stream. The one place a knob of another family is refused.
    public func validate(for model: any FamilyModel, stream: Bool) throws(ModelError) {
        try validateCommon()
        let accepted = stream ? model.streamKnobs : model.sessionKnobs
        let refused = knobs.subtracting(accepted)
        guard !refused.isEmpty else { return }
        let what = stream ? "stream" : "session"
        let names = refused.sorted().map(\.name).joined(separator: ", ")
        let takes = accepted.isEmpty ? "no budget knobs" : accepted.sorted().map(\.name).joined(separator: ", ")
        var message = "a \(model.family) \(what) takes no \(names) in its budget; it takes \(takes)"
        let other = stream ? model.sessionKnobs : model.streamKnobs
        if refused.isSubset(of: other) {
            message +=
                " (\(names) \(refused.count == 1 ? "is a" : "are") \(stream ? "session" : "stream") knob\(refused.count == 1 ? "" : "s") of this family)"
        }
        throw ModelError(.unsupported, message)
    }
}

extension Budget {
    /// For a call with one possible setting (no knob to trade): refuses a limit that its cost
    /// (`gflops`; the time `latency` predicts for it) exceeds, naming `what` costs it ("this run (128
    /// frames)", "a token") and the family, with `advice` after. Nothing runs over a limit silently.
    func refuseIfOver(
        gflops: Double, latency: LatencyModel, what: String, family: String, advice: String = ""
    ) throws(ModelError) {
        if let limit = maxGFLOPs, gflops > limit {
            throw ModelError(
                .budget,
                "\(what) costs \(formatted(gflops, 4)) GFLOP, above the limit of \(limit); \(family) has no cheaper setting\(advice)"
            )
        }
        if let limit = maxLatencyMs {
            let predicted = latency.predictMicroseconds(gflops: gflops) / 1000
            if predicted > limit {
                throw ModelError(
                    .budget,
                    "\(what) is predicted to take \(formatted(predicted, 3)) ms, above the limit of \(limit) ms; \(family) has no cheaper setting\(advice)"
                )
            }
        }
    }
}
