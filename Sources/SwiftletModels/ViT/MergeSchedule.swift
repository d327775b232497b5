/// A ToMe merge schedule (`tome/utils.py: parse_r`), as `Budget.mergeR` spells it.
///
/// Convention of `Budget.mergeR` (ToMe's tuple has no JSON/C spelling of its own):
/// - one value `[r]` → constant r in every layer (ToMe's `int r`);
/// - exactly two values `[r, -1]` → ToMe's decreasing tuple `(r, -1)`: 2r in the first layer down to 0
///   in the last (`int(min + step·i)`, truncated like Python);
/// - any other list → r per layer, padded with zeros to the depth (ToMe's `list`).
/// A layer merges at most (tokens − protected) // 2 tokens, whatever r says.
public enum MergeSchedule: Equatable, Sendable, CustomStringConvertible {
    case constant(Int)
    case decreasing(Int)
    case list([Int])

    /// Largest r accepted; far beyond any token count, it only keeps the arithmetic in range.
    static let maxR = 1 << 24

    /// Parses `Budget.mergeR` for a model of `depth` blocks.
    public init(_ values: [Int], depth: Int) throws(ModelError) {
        if values.count == 2, values[1] == -1 {
            guard (0...Self.maxR).contains(values[0]) else {
                throw ModelError(
                    .budget,
                    "the decreasing merge schedule [r, -1] needs r between 0 and \(Self.maxR), got \(values[0])")
            }
            self = .decreasing(values[0])
            return
        }
        guard !values.isEmpty else {
            throw ModelError(.budget, "the merge schedule is empty; give r, [r, -1] or one r per layer")
        }
        for v in values where !(0...Self.maxR).contains(v) {
            throw ModelError(
                .budget,
                "merge r must be between 0 and \(Self.maxR) (a negative value is only allowed as [r, -1], the decreasing schedule), got \(values)"
            )
        }
        if values.count == 1 {
            self = .constant(values[0])
            return
        }
        guard values.count <= depth else {
            throw ModelError(.budget, "the merge list has \(values.count) entries but the model has \(depth) layers")
        }
        self = .list(values)
    }

    /// r for each of `depth` layers, before the per-layer cap (ToMe's `parse_r`).
    public func perLayer(depth: Int) -> [Int] {
        switch self {
        case .constant(let r):
            return [Int](repeating: r, count: depth)
        case .list(let values):
            return values + [Int](repeating: 0, count: max(0, depth - values.count))
        case .decreasing(let r):
            // parse_r with inflect = -1: min = int(r·2), max = 2r − min, linear in float64.
            let minValue = Int(Double(r) * 2.0)
            let maxValue = 2 * r - minValue
            // ToMe divides by depth − 1; a one-layer model (a ZeroDivisionError there) gets the first value.
            guard depth > 1 else { return [Int](repeating: minValue, count: depth) }
            let step = Double(maxValue - minValue) / Double(depth - 1)
            return (0..<depth).map { Int(Double(minValue) + step * Double($0)) }
        }
    }

    /// "r=8", "r=(8,-1)" or "r=[16,8,4]".
    public var description: String {
        switch self {
        case .constant(let r): return "r=\(r)"
        case .decreasing(let r): return "r=(\(r),-1)"
        case .list(let values): return "r=[" + values.map(String.init).joined(separator: ",") + "]"
        }
    }
}

/// What a schedule does to a model: tokens merged and left per layer, and the work it costs.
/// Token counts depend only on the schedule and the caps, never on the image, so the cost is known
/// before running.
struct TokenPlan: Equatable {
    /// Tokens entering each block.
    let tokensIn: [Int]
    /// Tokens merged away in each block (after the cap).
    let merged: [Int]
    var tokensOut: [Int] { zip(tokensIn, merged).map { $0 - $1 } }
    var tokensLeft: Int { tokensOut.last ?? tokensIn.first ?? 0 }
    /// Multiply-accumulates for one image (fvcore convention: linear layers, matmuls, the stem conv
    /// and the matching scores; norms, softmax, GELU and the merge gather are not counted).
    let macs: Double

    init(_ perLayer: [Int], _ c: ViTConfig) {
        var tokensIn: [Int] = []
        var merged: [Int] = []
        let d = Double(c.dim)
        let m = Double(c.hidden)
        var macs = Double(c.patches * c.patchLength * c.dim) + Double(c.dim * c.classes * (c.distilled ? 2 : 1))
        var t = c.tokens
        for r in perLayer {
            let cap = (t - c.prefix) / 2
            let e = r > 0 ? min(r, cap) : 0
            tokensIn.append(t)
            merged.append(e)
            let n = Double(t)
            let out = Double(t - e)
            macs += 4 * n * d * d + 2 * n * n * d + 2 * out * d * m
            if e > 0 { macs += Double((t + 1) / 2) * Double(t / 2) * Double(c.headDim) }
            t -= e
        }
        self.tokensIn = tokensIn
        self.merged = merged
        self.macs = macs
    }

    /// GFLOP (a multiply-add counts 2) for a batch of `images`.
    func gflops(images: Int) -> Double { 2 * macs * Double(images) * 1e-9 }
}

extension ViTModel {
    /// The schedule a budget asks for: explicit `mergeR` wins; else the gentlest constant r (the
    /// smallest) whose FLOPs and predicted latency fit the limits; else r = 0.
    func chooseSchedule(_ budget: Budget, images: Int, latency: LatencyModel) throws(ModelError) -> (
        MergeSchedule, TokenPlan
    ) {
        try budget.validate(for: self, stream: false)
        let depth = config.depth
        if let values = budget.mergeR {
            let schedule = try MergeSchedule(values, depth: depth)
            return (schedule, TokenPlan(schedule.perLayer(depth: depth), config))
        }
        let full = MergeSchedule.constant(0)
        guard budget.maxGFLOPs != nil || budget.maxLatencyMs != nil else {
            return (full, TokenPlan(full.perLayer(depth: depth), config))
        }
        // Beyond this r the first layer is capped, and so is every later one: nothing changes.
        let largest = (config.tokens - config.prefix) / 2
        var cheapest: (MergeSchedule, TokenPlan)? = nil
        for r in 0...largest {
            let schedule = MergeSchedule.constant(r)
            let plan = TokenPlan(schedule.perLayer(depth: depth), config)
            let g = plan.gflops(images: images)
            let fitsWork = budget.maxGFLOPs.map { g <= $0 } ?? true
            let fitsTime = budget.maxLatencyMs.map { latency.predictMicroseconds(gflops: g) <= $0 * 1000 } ?? true
            if fitsWork && fitsTime { return (schedule, plan) }
            cheapest = (schedule, plan)
        }
        let (schedule, plan) = cheapest!
        let g = plan.gflops(images: images)
        let ms = latency.predictMicroseconds(gflops: g) / 1000
        let gText = formatted(g, 4)
        let msText = formatted(ms, 3)
        throw ModelError(
            .budget,
            "the budget is below the cheapest schedule: \(schedule) costs \(gText) GFLOP (predicted \(msText) ms) for \(images) image(s)"
        )
    }
}

/// `x` with `digits` decimals, without Foundation.
func formatted(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return String(x) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let v = (x * scale).rounded() / scale
    var s = String(v)
    if let dot = s.firstIndex(of: "."), s.distance(from: dot, to: s.endIndex) - 1 > digits, !s.contains("e") {
        s = String(s[...s.index(dot, offsetBy: digits)])
    }
    return s
}
