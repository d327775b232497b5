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

    public init(maxLatencyMs: Double? = nil, maxGFLOPs: Double? = nil, loops: Int? = nil,
                trajectory: [Double]? = nil, mergeR: [Int]? = nil, earlyFraction: Double? = nil,
                earlyMargin: Double? = nil, expectedFrames: Int? = nil) {
        self.maxLatencyMs = maxLatencyMs
        self.maxGFLOPs = maxGFLOPs
        self.loops = loops
        self.trajectory = trajectory
        self.mergeR = mergeR
        self.earlyFraction = earlyFraction
        self.earlyMargin = earlyMargin
        self.expectedFrames = expectedFrames
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
