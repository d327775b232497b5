/// Microseconds of one part of a ViT block as a function of the tokens it runs on: points measured on
/// this session's threads (by calibration, then by every call, averaged), linear between them and
/// proportional to the token count beyond them.
///
/// A cost per token count, not per GFLOP, because the kernels' efficiency changes with the count:
/// 41 tokens run at a lower GFLOP/s than 197.
struct CostCurve: Equatable {
    private(set) var measured: [Double]
    private var dense: [Double] = []
    private var dirty = true

    init(maxTokens: Int) { measured = [Double](repeating: 0, count: maxTokens + 1) }

    var isEmpty: Bool { !measured.contains { $0 > 0 } }

    mutating func observe(tokens t: Int, microseconds: Double) {
        guard t >= 1, t < measured.count, microseconds.isFinite, microseconds >= 0 else { return }
        let us = max(microseconds, 1e-3)
        measured[t] = measured[t] == 0 ? us : 0.75 * measured[t] + 0.25 * us
        dirty = true
    }

    /// Predicted microseconds at `t` tokens (0 while nothing was measured).
    mutating func value(at t: Int) -> Double {
        if dirty { rebuild() }
        guard t >= 0 else { return 0 }
        if t < dense.count { return dense[t] }
        // Beyond the table (a caller's bigger batch is kept in its own curve; this is a safe bound).
        return (dense.last ?? 0) * Double(t) / Double(max(dense.count - 1, 1))
    }

    private mutating func rebuild() {
        dirty = false
        dense = [Double](repeating: 0, count: measured.count)
        let points = measured.indices.filter { measured[$0] > 0 }
        guard let first = points.first, let last = points.last else { return }
        var k = 0
        for t in 1..<measured.count {
            if t <= first {
                dense[t] = measured[first] * Double(t) / Double(first)
            } else if t >= last {
                dense[t] = measured[last] * Double(t) / Double(last)
            } else {
                while points[k + 1] < t { k += 1 }
                let a = points[k]
                let b = points[k + 1]
                let w = Double(t - a) / Double(b - a)
                dense[t] = measured[a] * (1 - w) + measured[b] * w
            }
        }
    }
}

/// What a forward pass cost, measured while it ran.
struct ForwardTiming {
    var blocks: [BlockTiming] = []
    /// Patch embedding.
    var embed = 0.0
    /// Final norm, head and the outputs.
    var head = 0.0
}

/// What one block of a call cost, measured while it ran.
struct BlockTiming {
    let tokensIn: Int
    let merged: Int
    let attention: Double // norm1, qkv, attention, proj
    let merge: Double // bipartite matching and the merge
    let mlp: Double // norm2, fc1, fc2
}

/// The cost of a ViT forward per part, for one batch size on this session's threads.
struct ViTCostTable: Equatable {
    var attention: CostCurve
    var merge: CostCurve
    var mlp: CostCurve
    /// Patch embedding; final norm, head and outputs.
    var embed = 0.0
    var head = 0.0

    init(maxTokens: Int) {
        attention = CostCurve(maxTokens: maxTokens)
        merge = CostCurve(maxTokens: maxTokens)
        mlp = CostCurve(maxTokens: maxTokens)
    }

    var isEmpty: Bool { attention.isEmpty || mlp.isEmpty }

    /// Microseconds of the blocks from `layer` on, entering it with `tokensIn[layer]` tokens.
    mutating func blocks(_ plan: TokenPlan, from layer: Int = 0) -> Double {
        var us = 0.0
        for l in layer..<plan.merged.count {
            let t = plan.tokensIn[l]
            let r = plan.merged[l]
            us += attention.value(at: t) + mlp.value(at: t - r)
            if r > 0 { us += merge.value(at: t) }
        }
        return us
    }

    mutating func observe(_ timing: ForwardTiming) {
        for b in timing.blocks {
            attention.observe(tokens: b.tokensIn, microseconds: b.attention)
            mlp.observe(tokens: b.tokensIn - b.merged, microseconds: b.mlp)
            if b.merged > 0 { merge.observe(tokens: b.tokensIn, microseconds: b.merge) }
        }
        embed = embed == 0 ? timing.embed : 0.75 * embed + 0.25 * timing.embed
        head = head == 0 ? timing.head : 0.75 * head + 0.25 * timing.head
    }
}

/// A ViT session's latency model: a cost table per batch size (measured by a short calibration and
/// refreshed by every call) and the spread of recent calls around it (`LatencyTail`).
struct ViTCostModel {
    let maxTokens: Int
    private var tables: [Int: ViTCostTable] = [:]
    var tail = LatencyTail()
    /// Microseconds the calibration took; nil until it ran.
    var calibrationMicroseconds: Double?

    init(maxTokens: Int) { self.maxTokens = maxTokens }

    var isCalibrated: Bool { !(tables[1]?.isEmpty ?? true) }

    /// Mean microseconds of a call running `plan` on `batch` images from block `layer` on, the head
    /// included (and the embedding from block 0); nil before any measurement. A batch size never seen
    /// is priced as that many single images.
    mutating func predict(_ plan: TokenPlan, batch: Int, from layer: Int = 0) -> Double? {
        if var table = tables[batch], !table.isEmpty {
            let us = table.blocks(plan, from: layer) + (layer == 0 ? table.embed : 0) + table.head
            tables[batch] = table
            return us
        }
        guard var single = tables[1], !single.isEmpty else { return nil }
        let us = single.blocks(plan, from: layer) + (layer == 0 ? single.embed : 0) + single.head
        tables[1] = single
        return us * Double(batch)
    }

    /// The planned percentile of a call's time (`LatencyTail`); nil before any measurement.
    mutating func predictTail(_ plan: TokenPlan, batch: Int) -> Double? {
        predict(plan, batch: batch).map { tail.tail($0) }
    }

    /// Records a call: its time against what the table predicted before it ran, then its parts.
    mutating func observe(_ plan: TokenPlan, batch: Int, timing: ForwardTiming, total: Double) {
        if let predicted = predict(plan, batch: batch) { tail.observe(predicted: predicted, actual: total) }
        tables[batch, default: ViTCostTable(maxTokens: maxTokens)].observe(timing)
    }

    /// Measurements without a tail sample (calibration).
    mutating func observeCalibration(batch: Int, timing: ForwardTiming) {
        tables[batch, default: ViTCostTable(maxTokens: maxTokens)].observe(timing)
    }
}
