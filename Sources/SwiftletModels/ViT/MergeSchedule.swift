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
    /// r asked of each block, before the cap.
    let requested: [Int]
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
        self.requested = perLayer
        self.tokensIn = tokensIn
        self.merged = merged
        self.macs = macs
    }

    /// GFLOP (a multiply-add counts 2) for a batch of `images`.
    func gflops(images: Int) -> Double { 2 * macs * Double(images) * 1e-9 }

    /// "r=[8,8,8,16,16,…]": the r each block merged.
    var mergedDescription: String { "r=[" + merged.map(String.init).joined(separator: ",") + "]" }
}

/// What a budget chose for a ViT call.
struct ViTChoice {
    let schedule: MergeSchedule
    let plan: TokenPlan
    /// The time the budget planned for (p95), when it had a latency limit and measured costs.
    let predicted: Double?
    /// The schedule's profiled quality, when the model carries a profile that lists it.
    let quality: Double?
}

extension ViTModel {
    /// The schedule a budget asks for, in this order:
    /// 1. explicit `mergeR`;
    /// 2. with a quality profile and a limit or `minQuality`: among the profiled schedules that fit
    ///    the limits (and keep `minQuality`), the best-scoring one — or, with `minQuality`, the
    ///    cheapest; constant, decreasing and per-layer schedules compete alike;
    /// 3. with limits: the gentlest constant r (the smallest) whose GFLOP and predicted time fit —
    ///    the time at the percentile `LatencyTail` plans for, from the session's measured costs; when
    ///    none does but the harshest one's mean time fits, the harshest one (best effort);
    /// 4. r = 0.
    /// `alone`: the call will run on the calling thread only (the runner's answer to a busy machine).
    func chooseSchedule(
        _ budget: Budget, images: Int, alone: Bool = false, costs: inout ViTCostModel
    ) throws(ModelError) -> ViTChoice {
        try budget.validate(for: self, stream: false)
        let depth = config.depth
        let timed = budget.maxLatencyMs != nil
        func choice(_ schedule: MergeSchedule, _ plan: TokenPlan) -> ViTChoice {
            ViTChoice(
                schedule: schedule, plan: plan,
                predicted: timed ? costs.predictTail(plan, batch: images, alone: alone) : nil,
                quality: quality(of: schedule))
        }
        if let values = budget.mergeR {
            let schedule = try MergeSchedule(values, depth: depth)
            return choice(schedule, TokenPlan(schedule.perLayer(depth: depth), config))
        }
        let limited = budget.maxGFLOPs != nil || budget.maxLatencyMs != nil
        if budget.minQuality != nil, profile == nil {
            throw ModelError(
                .unsupported,
                "min_quality needs a model that carries a quality profile; measure one with `swiftlet profile`")
        }
        if profile != nil, limited || budget.minQuality != nil,
            let picked = try chooseProfiled(budget, images: images, alone: alone, costs: &costs)
        {
            return picked
        }
        let full = MergeSchedule.constant(0)
        guard limited else { return choice(full, TokenPlan(full.perLayer(depth: depth), config)) }
        // Beyond this r the first layer is capped, and so is every later one: nothing changes.
        let largest = (config.tokens - config.prefix) / 2
        var cheapest: ViTChoice? = nil
        for r in 0...largest {
            let c = choice(.constant(r), TokenPlan(MergeSchedule.constant(r).perLayer(depth: depth), config))
            if fits(c, budget, images: images) { return c }
            cheapest = c
        }
        let c = cheapest!
        // The planned percentile does not fit even merging all it can, but the mean may: run it, and
        // let the deadline correction and the report say how it went. Only a limit below the mean (or
        // a GFLOP limit, which is exact) is refused.
        let tail = costs.tail(batch: images, alone: alone)
        let mean = costs.predict(c.plan, batch: images, alone: alone).map { $0 * tail.ratio(at: 0.5) }
        if let limit = budget.maxLatencyMs, let mean, mean <= limit * 1000,
            budget.maxGFLOPs.map({ c.plan.gflops(images: images) <= $0 }) ?? true
        {
            return c
        }
        let gText = formatted(c.plan.gflops(images: images), 4)
        let msText = c.predicted.map { ", predicted p95 " + formatted($0 / 1000, 3) + " ms" } ?? ""
        throw ModelError(
            .budget,
            "the budget is below the cheapest schedule: \(c.schedule) costs \(gText) GFLOP\(msText) for \(images) image(s)"
        )
    }

    private func fits(_ c: ViTChoice, _ budget: Budget, images: Int) -> Bool {
        let fitsWork = budget.maxGFLOPs.map { c.plan.gflops(images: images) <= $0 } ?? true
        let usable = 1 - ViTCostModel.deadlineMargin
        let fitsTime =
            budget.maxLatencyMs.map { limit in c.predicted.map { $0 <= limit * 1000 * usable } ?? true } ?? true
        return fitsWork && fitsTime
    }

    /// Step 2 of `chooseSchedule`; nil when no profiled schedule fits the limits and no minimum quality
    /// was asked (the constant-r search then takes over).
    private func chooseProfiled(
        _ budget: Budget, images: Int, alone: Bool, costs: inout ViTCostModel
    ) throws(ModelError) -> ViTChoice? {
        guard let profile else { return nil }
        let depth = config.depth
        var candidates: [(choice: ViTChoice, cost: Double)] = []
        for (entry, schedule) in profile {
            let plan = TokenPlan(schedule.perLayer(depth: depth), config)
            let predicted = budget.maxLatencyMs == nil ? nil : costs.predictTail(plan, batch: images, alone: alone)
            let c = ViTChoice(schedule: schedule, plan: plan, predicted: predicted, quality: entry.quality)
            guard fits(c, budget, images: images) else { continue }
            // Cheapness: the measured time where there is one, else the work.
            let measured = costs.isCalibrated ? costs.predict(plan, batch: images, alone: alone) : nil
            candidates.append((c, measured ?? plan.gflops(images: images)))
        }
        if let floor = budget.minQuality {
            let keeping = candidates.filter { $0.choice.quality! >= floor - 1e-12 }
            if let best = keeping.min(by: { ($0.cost, -$0.choice.quality!) < ($1.cost, -$1.choice.quality!) }) {
                return best.choice
            }
            let best = profile.map(\.entry.quality).max() ?? 0
            throw ModelError(
                .budget,
                best < floor - 1e-12
                    ? "no profiled setting keeps \(formatted(floor * 100, 1)) % of full quality (the best keeps \(formatted(best * 100, 1)) %)"
                    : "no profiled setting that keeps \(formatted(floor * 100, 1)) % of full quality fits the limits")
        }
        return candidates.max { ($0.choice.quality!, -$0.cost) < ($1.choice.quality!, -$1.cost) }?.choice
    }

    /// Correction inside a call: after block `layer`, with `available` microseconds left before the
    /// deadline, the plan for the remaining blocks. nil when the planned rest is predicted to fit
    /// (at `ratio` × the cost table); else every remaining block merges at least r', the smallest r'
    /// whose rest fits, or as hard as the caps allow when none does.
    func correctedPlan(
        _ plan: TokenPlan, after layer: Int, available: Double, batch: Int, alone: Bool = false, ratio: Double,
        costs: inout ViTCostModel
    ) -> TokenPlan? {
        let depth = config.depth
        guard layer + 1 < depth, let rest = costs.predict(plan, batch: batch, alone: alone, from: layer + 1) else {
            return nil
        }
        if rest * ratio <= available { return nil }
        let done = Array(plan.merged[0...layer])
        let t = plan.tokensIn[layer] - plan.merged[layer]
        let largest = max((t - config.prefix) / 2, 0)
        var harshest = plan
        guard largest >= 1 else { return nil }
        for r in 1...largest {
            let later = plan.requested[(layer + 1)...].map { max($0, r) }
            let candidate = TokenPlan(done + later, config)
            guard candidate.merged != plan.merged else { continue }
            harshest = candidate
            if let us = costs.predict(candidate, batch: batch, alone: alone, from: layer + 1), us * ratio <= available {
                return candidate
            }
        }
        return harshest == plan ? nil : harshest
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
