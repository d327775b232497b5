/// Microseconds of one part of a ViT block as a function of the tokens it runs on: points measured on
/// this session's threads by the calibration (the least of its runs), linear between them and
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

    /// Records a time at `t` tokens: the least seen there (repeated calibration runs: the least is
    /// what the machine does without interruptions; the tail window adds the rest).
    mutating func observe(tokens t: Int, microseconds: Double) {
        guard t >= 1, t < measured.count, microseconds.isFinite, microseconds >= 0 else { return }
        let us = max(microseconds, 1e-3)
        measured[t] = measured[t] == 0 ? us : min(measured[t], us)
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
    /// The block after which the call went on alone (the helpers kept it waiting), if it did.
    var aloneAfter: Int?
    /// Microseconds the calling thread waited for parts the helpers had claimed.
    var helperWait = 0.0
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
        embed = embed == 0 ? timing.embed : min(embed, timing.embed)
        head = head == 0 ? timing.head : min(head, timing.head)
    }
}

/// A ViT session's latency model: a cost table per batch size, and how recent calls of that batch
/// size spread around it (`LatencyTail`).
///
/// The table of one image is measured by the calibration, all token counts in one short spell, so
/// that its shape across token counts is consistent; calls then only feed its tail window, whose
/// ratios carry the drift (heat, other processes) and the spread. Refreshing only the token counts a
/// call visited would leave the others at an older machine speed, and the choice would never move
/// to settings it has not tried. Kinds the calibration did not measure (another batch size, calls
/// run alone) learn their table from their calls, least time per token count.
struct ViTCostModel {
    /// Share of a latency limit kept free of planned work, for what the call does after its last
    /// block (copying and checking the outputs, the report); the plan and the in-call correction
    /// both leave it, so that a call running to plan is never corrected.
    static let deadlineMargin = 0.02

    /// What a table or tail window is for: a batch size, run with the session's helpers or by the
    /// calling thread alone (`ViTRunner`'s answer to a busy machine).
    struct Key: Hashable {
        let batch: Int
        let alone: Bool
    }

    let maxTokens: Int
    /// The session's threads: a call run alone is first priced as this many times the threaded one.
    let threads: Int
    private var tables: [Key: ViTCostTable] = [:]
    private var tails: [Key: LatencyTail] = [:]
    /// Microseconds the calibration took; nil until it ran.
    var calibrationMicroseconds: Double?

    init(maxTokens: Int, threads: Int = 1) {
        self.maxTokens = maxTokens
        self.threads = max(threads, 1)
    }

    /// Whether the calibration ran: before it, nothing is measured, and calls teach the tables
    /// nothing (the calibrated table is the one whose shape the budget trusts).
    var isCalibrated: Bool { calibrationMicroseconds != nil }

    /// The spread of recent calls of `batch` images run that way (else the nearest window kept).
    func tail(batch: Int, alone: Bool = false) -> LatencyTail {
        tails[Key(batch: batch, alone: alone)] ?? tails[Key(batch: batch, alone: false)]
            ?? tails[Key(batch: 1, alone: false)] ?? LatencyTail()
    }

    /// Microseconds of a call running `plan` on `batch` images from block `layer` on, the head included
    /// (and the embedding from block 0), as the table has it; nil before any measurement. Without a
    /// table of its own, a batch size is priced as that many single images, and a call run alone as
    /// `threads` times the threaded one (a bound: threads never scale better than that).
    mutating func predict(_ plan: TokenPlan, batch: Int, alone: Bool = false, from layer: Int = 0) -> Double? {
        var factor = 1.0
        var key = Key(batch: batch, alone: alone)
        if tables[key]?.isEmpty ?? true, alone {
            factor *= Double(threads)
            key = Key(batch: batch, alone: false)
        }
        if tables[key]?.isEmpty ?? true {
            factor *= Double(batch)
            key = Key(batch: 1, alone: false)
        }
        guard var table = tables[key], !table.isEmpty else { return nil }
        let us = table.blocks(plan, from: layer) + (layer == 0 ? table.embed : 0) + table.head
        tables[key] = table
        return us * factor
    }

    /// The planned percentile of a call's time (`LatencyTail`); nil before any measurement.
    mutating func predictTail(_ plan: TokenPlan, batch: Int, alone: Bool = false) -> Double? {
        let tail = tail(batch: batch, alone: alone)
        return predict(plan, batch: batch, alone: alone).map { tail.tail($0) }
    }

    /// Records a call that ran one way throughout: its time against the table's prediction in the
    /// tail window of its kind; and, for a kind the calibration did not measure (another batch size,
    /// a call run alone), its parts into that kind's table, which keeps the least time per token count
    /// as the calibration does (a call that was interrupted only ever raises a time).
    mutating func observe(_ plan: TokenPlan, batch: Int, alone: Bool, timing: ForwardTiming, total: Double) {
        guard isCalibrated else { return }
        let key = Key(batch: batch, alone: alone)
        let hadTable = !(tables[key]?.isEmpty ?? true)
        if hadTable, let predicted = predict(plan, batch: batch, alone: alone) {
            tails[key, default: LatencyTail()].observe(predicted: predicted, actual: total)
        }
        if key != Key(batch: 1, alone: false) || !hadTable {
            tables[key, default: ViTCostTable(maxTokens: maxTokens)].observe(timing)
        }
    }

    mutating func observeTail(batch: Int, alone: Bool = false, predicted: Double, actual: Double) {
        tails[Key(batch: batch, alone: alone), default: LatencyTail()].observe(predicted: predicted, actual: actual)
    }

    /// Calibration measurements (threaded): into the table, not the tail.
    mutating func observeCalibration(batch: Int, timing: ForwardTiming) {
        tables[Key(batch: batch, alone: false), default: ViTCostTable(maxTokens: maxTokens)].observe(timing)
    }
}
