import CSwiftletKernels
import Glibc
import SwiftletKernels

/// Session state of a ViT: the scratch arena and the latency model of this machine.
///
/// The whole batch's tokens form one `[B·N, D]` matrix (every image keeps the same number of tokens
/// per layer), so qkv, proj, fc1 and fc2 are one GEMM each over all tokens, on the weight panels the
/// converter laid out (`swk_panel_linear`: no repacking per call, bias, GELU and the residual add fused
/// into the store); attention (`swk_attention`, softmax fused) and the merge run per image. With
/// several threads every step is split between the caller and the runner's helper threads (f32 GEMMs
/// by output columns, attention by heads or query rows, norms by rows; a bf16 or q8 block in three
/// steps: by rows — norm1 and qkv —, by heads — attention — and by rows again — proj and, unless the
/// block merges, norm2, fc1 and fc2; BLAS, left for the merge's similarities and the head,
/// single-threaded). All scratch comes from the arena, which after the first run of a given batch size
/// allocates nothing.
final class ViTRunner: FamilyRunner {
    let model: ViTModel
    let context: ExecutionContext
    private var arena: Arena { context.arena }
    /// What each part of a call costs on this session's threads (calibrated, then refreshed by every
    /// call) and how calls spread around it.
    var costs: ViTCostModel
    /// One part per thread of the session, or one in all while the call runs alone.
    var parts: Int { alone ? 1 : context.threads }
    /// Whether the call in progress runs (from some block on) on the calling thread alone. Under a
    /// latency limit, a call whose helpers keep it waiting — another process holds their core, and a
    /// part a helper claimed waits for the scheduler — goes on alone, and so do the next
    /// `aloneCallsAfterStall` calls; then the helpers are tried again, on a schedule chosen as if alone
    /// (so that a helper that stalls again costs no deadline). The results are the same bits.
    private var alone = false
    private var aloneCalls = 0
    private var probeHelpers = false
    static let aloneCallsAfterStall = 32

    init(model: ViTModel, context: ExecutionContext) {
        self.model = model
        self.context = context
        costs = ViTCostModel(maxTokens: model.config.tokens, threads: context.threads)
    }

    /// Runs `body(part, parts)` once per thread of the session.
    private func parallel(_ body: (Int, Int) -> Void) {
        let n = parts
        context.parallel(parts: n) { body($0, n) }
    }

    /// Scratch for the activations of a bf16 or q8 product (rounded or quantized rows, then the row
    /// scales), `compactScratchFloats(rows:)` floats from the arena; set by `forward`.
    private var compactScratch: UnsafeMutablePointer<Float>? = nil

    /// Floats of `compactScratch` for `rows` rows `compactRowStride` elements apart: bf16 rows take
    /// that many halves, q8 rows that many bytes (from a 64-byte boundary on) and a float scale.
    private func compactScratchFloats(rows: Int) -> Int { rows * (compactRowStride / 2 + 1) + 16 }

    /// `y[rows, outFeatures] = act(x · Wᵀ + bias)` with `W` (`[outFeatures, inFeatures]`) in the
    /// panel layout of its type and `act` GELU or nothing, or with `accumulate`, `y += x · Wᵀ + bias`.
    /// f32 splits over column blocks of the output (whole pairs of panels, the micro-kernel's width);
    /// bf16 and q8 over row blocks (`compactRows`: each part rounds or quantizes its own rows, then
    /// multiplies them by every column), so a compact product is one parallel step.
    ///
    /// `prologue(rows)`, if given, is run first for every row block (e.g. the LayerNorm that writes
    /// x): in the same parallel step as the rows' product for bf16 and q8, a step of its own for f32.
    private func linear(
        _ x: UnsafePointer<Float>, lda: Int? = nil, rows: Int, inFeatures: Int,
        weight: ViTMatrix, bias: UnsafePointer<Float>?, outFeatures: Int,
        into y: UnsafeMutablePointer<Float>, ldy: Int? = nil, accumulate: Bool = false,
        gelu: Bool = false, prologue: ((Range<Int>) -> Void)? = nil
    ) {
        let lda = lda ?? inFeatures
        let ldy = ldy ?? outFeatures
        guard weight.type == .f32 else {
            parallel { part, parts in
                let r = WorkerPool.block(part, of: parts, rows)
                guard !r.isEmpty else { return }
                prologue?(r)
                self.compactRows(
                    x, lda: lda, rows: r, inFeatures: inFeatures, weight: weight, bias: bias,
                    outFeatures: outFeatures, into: y, ldy: ldy, accumulate: accumulate, gelu: gelu)
            }
            return
        }
        if let prologue {
            parallel { part, parts in
                let r = WorkerPool.block(part, of: parts, rows)
                if !r.isEmpty { prologue(r) }
            }
        }
        let flags = Int32((accumulate ? SWK_PANEL_ACCUMULATE : 0) | (gelu ? SWK_PANEL_GELU : 0))
        let w = weight.floats
        parallel { part, parts in
            let cols = WorkerPool.block(part, of: parts, outFeatures, align: 32)
            guard !cols.isEmpty else { return }
            swk_panel_linear(
                x, lda, rows, inFeatures, w, outFeatures, cols.lowerBound, cols.upperBound, bias, flags, y, ldy)
        }
    }

    /// LayerNorm of the rows `r` (for `linear`'s prologue).
    private func layerNormRows(
        _ x: UnsafePointer<Float>, _ r: Range<Int>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>
    ) {
        let d = model.config.dim
        swk_layer_norm(x + r.lowerBound * d, r.count, d, weight, bias, model.config.eps, y + r.lowerBound * d)
    }

    /// Row stride (elements) of `compactScratch`: the widest input of any product (patch rows, tokens,
    /// hidden rows) padded to 4, so that the rows of each part of a step split by rows stay inside
    /// that part's region whatever k its products have; the q8 row scales follow all regions
    /// (`compactRowCapacity` rows).
    private var compactRowStride: Int {
        let c = model.config
        return (max(c.dim, c.hidden, c.patchLength) + 3) / 4 * 4
    }
    /// Rows `compactScratch` holds (all tokens of the batch); set by `forward`.
    private var compactRowCapacity = 0

    /// The MLP of rows `r` on the calling thread (bf16 and q8): `x += fc2(GELU(fc1(norm2(x))))`, through
    /// `h` (normed rows) and `big` (hidden rows).
    private func mlpRows(
        _ r: Range<Int>, block b: ViTBlockWeights, x: UnsafeMutablePointer<Float>, h: UnsafeMutablePointer<Float>,
        big: UnsafeMutablePointer<Float>
    ) {
        let d = model.config.dim
        let hidden = model.config.hidden
        layerNormRows(x, r, weight: b.norm2Weight, bias: b.norm2Bias, into: h)
        compactRows(
            h, lda: d, rows: r, inFeatures: d, weight: b.fc1Weight, bias: b.fc1Bias, outFeatures: hidden, into: big,
            ldy: hidden, gelu: true)
        compactRows(
            big, lda: hidden, rows: r, inFeatures: hidden, weight: b.fc2Weight, bias: b.fc2Bias, outFeatures: d,
            into: x,
            ldy: d, accumulate: true)
    }

    /// Rows `r` of `y = act(x · Wᵀ + bias)` (or `y += …`), all output columns, on the calling thread:
    /// the rows rounded to bf16 or quantized into this row range's own region of `compactScratch`,
    /// then one product over every column. Each output element is computed as `linear` computes it,
    /// so a split by rows gives the same bits as a split by columns.
    private func compactRows(
        _ x: UnsafePointer<Float>, lda: Int, rows r: Range<Int>, inFeatures k: Int, weight: ViTMatrix,
        bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
        accumulate: Bool = false, gelu: Bool = false
    ) {
        let flags = Int32((accumulate ? SWK_PANEL_ACCUMULATE : 0) | (gelu ? SWK_PANEL_GELU : 0))
        let raw = UnsafeMutableRawPointer(compactScratch!)
        let stride = compactRowStride
        let src = x + r.lowerBound * lda
        let dst = y + r.lowerBound * ldy
        switch weight.type {
        case .f32:
            preconditionFailure("compactRows is for bf16 and q8 matrices")
        case .bf16:
            let a = raw.assumingMemoryBound(to: UInt16.self) + r.lowerBound * stride
            swk_bf16_round_rows(src, lda, r.count, k, a)
            swk_panel_linear_bf16(
                a, r.count, k, weight.pointer.assumingMemoryBound(to: UInt16.self), outFeatures, 0, outFeatures, bias,
                flags, dst, ldy)
        case .q8:
            let a = raw.assumingMemoryBound(to: UInt8.self) + r.lowerBound * stride
            let scales =
                (raw + (compactRowCapacity * stride + 63) / 64 * 64).assumingMemoryBound(to: Float.self) + r.lowerBound
            swk_q8_quantize_rows(src, lda, r.count, k, a, scales)
            swk_panel_linear_q8(
                a, r.count, k, scales, weight.pointer.assumingMemoryBound(to: Int8.self), weight.scales!,
                UnsafePointer(weight.sums!), outFeatures, 0, outFeatures, bias, flags, dst, ldy)
        }
    }

    /// LayerNorm of `rows` rows, split over row blocks.
    private func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>
    ) {
        let d = model.config.dim
        let eps = model.config.eps
        parallel { part, parts in
            let r = WorkerPool.block(part, of: parts, rows)
            guard !r.isEmpty else { return }
            swk_layer_norm(x + r.lowerBound * d, r.count, d, weight, bias, eps, y + r.lowerBound * d)
        }
    }

    func run(_ inputs: [TensorView], budget: Budget) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(
                .invalidArgument,
                "a vit model takes 1 input ('images' \(model.inputs[0].shapeDescription)), got \(inputs.count)"
            )
        }
        let images = inputs[0]
        try images.validate(against: model.inputs[0])
        let batch = images.shape[0]
        guard batch >= 1 else {
            throw ModelError(.shape, "input 'images' holds no image (batch 0)")
        }
        if budget.maxLatencyMs != nil, !costs.isCalibrated, budget.mergeR == nil {
            // The first latency budget of a session that was not calibrated at creation: calibrate now
            // (this call takes longer; the report says by how much).
            try calibrate()
        }
        alone = budget.maxLatencyMs != nil && aloneCalls > 0 && context.threads > 1
        var planAlone = alone
        if alone {
            aloneCalls -= 1
            probeHelpers = aloneCalls == 0
        } else if probeHelpers, budget.maxLatencyMs != nil {
            planAlone = true
            probeHelpers = false
        }
        let startedAlone = alone
        _ = context.pool?.takeWaitedMicroseconds()
        defer { alone = false }
        let choice = try model.chooseSchedule(budget, images: batch, alone: planAlone, costs: &costs)
        let start = context.clock()
        var plan = choice.plan
        let (outputs, timing, correctedAt) = try forward(
            images.floats.baseAddress!, batch: batch, plan: &plan, deadline: context.deadline)
        let total = context.clock() - start
        if timing.aloneAfter == nil {
            costs.observe(plan, batch: batch, alone: startedAlone, timing: timing, total: total)
        } else if let threaded = costs.predict(plan, batch: batch) {
            // What threaded calls take on this machine now, stall included: the next ones plan for it.
            costs.observeTail(batch: batch, predicted: threaded, actual: total)
        }

        let gflops = plan.gflops(images: batch)
        context.report.layers = model.config.depth
        context.report.tokensKept = plan.tokensLeft
        context.report.gflops = gflops
        context.report.predictedMicroseconds = choice.predicted ?? 0
        context.report.predictedQuality = choice.quality
        context.report.choice = choice.schedule.description
        if let l = correctedAt {
            context.report.choice += ", then \(plan.mergedDescription) from block \(l + 1) to meet the deadline"
            context.report.values["corrected_after_block"] = [Double(l)]
            context.report.predictedQuality = model.quality(of: .list(plan.merged))
        }
        context.report.values["tokens_per_layer"] = plan.tokensOut.map(Double.init)
        context.report.values["merged_per_layer"] = plan.merged.map(Double.init)
        if let us = costs.calibrationMicroseconds { context.report.values["calibration_us"] = [us] }
        if context.pool != nil { context.report.values["helper_wait_us"] = [timing.helperWait] }
        if let l = timing.aloneAfter {
            context.report.choice += ", alone after block \(l) (the helper threads kept it waiting)"
            context.report.values["alone_after_block"] = [Double(l)]
        } else if startedAlone {
            context.report.choice += ", alone (the helper threads kept earlier calls waiting)"
        }
        return outputs
    }

    /// Measures what each part of a forward costs on this session's threads: a few runs of a made-up
    /// image at r = 0 (the first, which pages the weights in, is not counted) and at merge rates that
    /// pass through every token count from the full one down to a handful, twice, keeping each part's
    /// least time: fifteen forwards, most of them merged; never more than a second past the first sweep.
    func calibrate() throws(ModelError) {
        let c = model.config
        let start = context.clock()
        let largest = max((c.tokens - c.prefix) / 2, 1)
        let sweep = [
            0, max(largest / 24, 1), max(largest / 12, 1), max(largest / 8, 1), max(largest / 6, 1),
            max(largest / 4, 1), largest,
        ]
        // A warm-up run, then the sweep twice: each part keeps its least time.
        let rates = [0] + sweep + sweep
        // Pixels like a normalised photo's (a blank image makes every token alike, which no call sees).
        var generator = SplitMix64(seed: 0x5649_5443_414C_4942)
        var image = (0..<(c.channels * c.imageHeight * c.imageWidth)).map { _ in generator.float(-2, 2) }
        try image.withUnsafeMutableBufferPointer { (pixels) throws(ModelError) in
            for (i, r) in rates.enumerated() {
                if i > sweep.count, context.clock() - start > 1_000_000 { break }
                var plan = TokenPlan([Int](repeating: r, count: c.depth), c)
                let (_, timing, _) = try forward(pixels.baseAddress!, batch: 1, plan: &plan, deadline: nil)
                if i > 0 { costs.observeCalibration(batch: 1, timing: timing) }
            }
        }
        costs.calibrationMicroseconds = context.clock() - start
    }

    /// Whether attention runs in bf16 (`swk_attention_bf16`): for the compact (bf16 and q8) models,
    /// whose products are rounded anyway; a float32 model keeps float32 attention.
    private var bf16Attention: Bool { model.weights.type != .f32 }

    /// Attention scratch floats per part.
    private var attentionScratch: Int {
        bf16Attention
            ? swk_attention_bf16_scratch(model.config.tokens, model.config.headDim)
            : swk_attention_scratch(model.config.tokens, model.config.headDim)
    }

    /// Scratch floats a batch needs (the same sum `forward` allocates, plus alignment slack).
    private func scratchFloats(batch: Int) -> Int? {
        let c = model.config
        let n = c.tokens
        let perImage = [
            3 * n * c.dim, // two residual buffers and h
            max(n * max(3 * c.dim, c.hidden), c.patches * c.patchLength), // qkv / fc1 / patches
            3 * n + 2 * c.classes, // sizes ×2, log sizes, logits
        ].reduce(0, +)
        let fixed = parts * (MergeScratch.floats(tokens: n, headDim: c.headDim) + attentionScratch + 64 * 16) + 64
        // The compact kernels' activation rows (all tokens of the batch; an image's patch rows are fewer).
        let compact =
            model.weights.type == .f32
            ? 0
            : compactScratchFloats(rows: n * batch)
        let (total, overflow) = perImage.multipliedReportingOverflow(by: batch)
        guard !overflow, total < (1 << 40) else { return nil }
        return total + fixed + compact
    }

    /// One forward pass. Times every block's parts; with a `deadline`, after each block compares the
    /// clock with it and, if the rest of `plan` is predicted to overrun, merges harder in the remaining
    /// blocks (`plan` is then the schedule actually run, and the block after which it changed is
    /// returned).
    private func forward(
        _ input: UnsafePointer<Float>, batch: Int, plan: inout TokenPlan, deadline: Double?
    ) throws(ModelError) -> (outputs: [Tensor], timing: ForwardTiming, correctedAt: Int?) {
        let clock = context.clock
        let began = clock()
        var timing = ForwardTiming()
        timing.blocks.reserveCapacity(model.config.depth)
        var correctedAt: Int? = nil
        let c = model.config
        let w = model.weights
        let d = c.dim
        let n0 = c.tokens
        let hidden = c.hidden
        let np = c.patches
        let pl = c.patchLength

        arena.reset()
        guard let floats = scratchFloats(batch: batch) else {
            throw ModelError(.invalidArgument, "a batch of \(batch) images is too large; split it")
        }
        do {
            try arena.reserve(bytes: floats * 4)
        } catch {
            throw ModelError(
                .outOfMemory,
                "a batch of \(batch) images needs \(floats * 4 / 1_048_576) MiB of scratch and the system refused it (\(error)); split the batch"
            )
        }
        var x = arena.floats(batch * n0 * d)
        var xNext = arena.floats(batch * n0 * d)
        let h = arena.floats(batch * n0 * d)
        let big = arena.floats(batch * max(n0 * max(3 * d, hidden), np * pl))
        var sizes = arena.floats(batch * n0)
        var sizesNext = arena.floats(batch * n0)
        let logSizes = arena.floats(batch * n0)
        let merging = (0..<parts).map { _ in MergeScratch(arena: arena, tokens: n0, headDim: c.headDim) }
        let scores = (0..<parts).map { _ in arena.floats(attentionScratch) }
        // bf16 and q8 blocks run in three steps split by rows or heads (norm, rounding or quantizing and
        // qkv; attention; proj, norm, fc1 and fc2), f32 ones split their GEMMs by columns.
        let byRows = w.type != .f32
        compactRowCapacity = batch * n0
        if w.type != .f32 {
            compactScratch = arena.floats(compactScratchFloats(rows: batch * n0))
        }

        try context.checkAbort("before the patch embedding")
        embed(input, batch: batch, patches: big, into: x)
        sizes.update(repeating: 1, count: batch * n0)

        let scale = Float(1 / Double(c.headDim).squareRoot())
        var sized = false // ToMe's `size` is None until the first merge
        var t = n0
        var blockStart = clock()
        timing.embed = blockStart - began
        // Kept free for what follows the last block, as the plan kept it (`deadlineMargin`).
        let margin = deadline.map { ViTCostModel.deadlineMargin * ($0 - context.callStart) } ?? 0
        for (l, b) in w.blocks.enumerated() {
            try context.checkAbort("before block \(l)")
            let rows = batch * t
            let xIn = UnsafePointer(x)
            // bf16 and q8: one step by rows (norm1, then the rows' qkv); f32: the norm, then a split by columns.
            linear(
                h, rows: rows, inFeatures: d, weight: b.qkvWeight, bias: b.qkvBias, outFeatures: 3 * d, into: big,
                prologue: { self.layerNormRows(xIn, $0, weight: b.norm1Weight, bias: b.norm1Bias, into: h) })
            let biased = sized && c.propAttn
            if biased {
                for j in 0..<rows { logSizes[j] = logf(sizes[j]) }
            }
            let lowAttention = bf16Attention
            parallel { part, parts in
                // Split by heads when they divide evenly (each part lays out only its own heads' K and V),
                // else by query rows. Every output element is computed the same way either way.
                let byHeads = c.heads % parts == 0
                let h0 = byHeads ? part * c.heads / parts : 0
                let h1 = byHeads ? (part + 1) * c.heads / parts : c.heads
                let q0 = byHeads ? 0 : part * t / parts
                let q1 = byHeads ? t : (part + 1) * t / parts
                let off = h0 * c.headDim
                for i in 0..<batch {
                    let q = big + i * t * 3 * d + off
                    let o = h + i * t * d + off
                    let bias = biased ? UnsafePointer(logSizes + i * t) : nil
                    if lowAttention {
                        swk_attention_bf16(
                            q, q + d, q + 2 * d, 3 * d, t, q0, q1, h1 - h0, c.headDim, scale, bias, o, d, scores[part])
                    } else {
                        swk_attention(
                            q, q + d, q + 2 * d, 3 * d, t, q0, q1, h1 - h0, c.headDim, scale, bias, o, d, scores[part])
                    }
                }
            }
            let r = plan.merged[l]
            // x += attn · Wprojᵀ + b, accumulated in place. Split by rows, a block without a merge runs
            // its MLP on the same rows in the same step (each part's rows need nothing of the others');
            // part 0 notes when its proj ended, which splits the step between attention and MLP for
            // the cost model as the separate steps did.
            let fused = byRows && r == 0
            var attentionEnd = 0.0
            if byRows {
                let xOut = x
                parallel { part, parts in
                    let rr = WorkerPool.block(part, of: parts, rows)
                    if !rr.isEmpty {
                        self.compactRows(
                            h, lda: d, rows: rr, inFeatures: d, weight: b.projWeight, bias: b.projBias, outFeatures: d,
                            into: xOut, ldy: d, accumulate: true)
                    }
                    if part == 0 { attentionEnd = clock() }
                    if fused, !rr.isEmpty { self.mlpRows(rr, block: b, x: xOut, h: h, big: big) }
                }
            } else {
                linear(
                    h, rows: rows, inFeatures: d, weight: b.projWeight, bias: b.projBias, outFeatures: d, into: x,
                    accumulate: true)
                attentionEnd = clock()
            }

            let tokensIn = t
            if r > 0 {
                let out = t - r
                let (src, dst, s, sNext) = (x, xNext, sizes, sizesNext)
                let merge = { (i: Int, part: Int) in
                    TokenMerge.merge(
                        x: src + i * t * d, sizes: s + i * t, keys: big + i * t * 3 * d + d,
                        keyStride: 3 * d, tokens: t, r: r, dim: d, heads: c.heads,
                        headDim: c.headDim, distilled: c.distilled,
                        out: dst + i * out * d, sizesOut: sNext + i * out, scratch: merging[part])
                }
                if batch == 1 {
                    merge(0, 0) // small next to the GEMMs; not worth a hand-off
                } else {
                    parallel { part, parts in
                        for i in stride(from: part, to: batch, by: parts) { merge(i, part) }
                    }
                }
                swap(&x, &xNext)
                swap(&sizes, &sizesNext)
                sized = true
                t = out
            }
            let mergeEnd = fused ? attentionEnd : clock()

            let mrows = batch * t
            let xMid = UnsafePointer(x)
            if byRows {
                if !fused {
                    let xOut = x
                    parallel { part, parts in
                        let rr = WorkerPool.block(part, of: parts, mrows)
                        if !rr.isEmpty { self.mlpRows(rr, block: b, x: xOut, h: h, big: big) }
                    }
                }
            } else {
                linear(
                    h, rows: mrows, inFeatures: d, weight: b.fc1Weight, bias: b.fc1Bias, outFeatures: hidden, into: big,
                    gelu: true,
                    prologue: { self.layerNormRows(xMid, $0, weight: b.norm2Weight, bias: b.norm2Bias, into: h) })
                linear(
                    big, rows: mrows, inFeatures: hidden, weight: b.fc2Weight, bias: b.fc2Bias, outFeatures: d, into: x,
                    accumulate: true)
            }
            let blockEnd = clock()
            timing.blocks.append(
                BlockTiming(
                    tokensIn: tokensIn, merged: r, attention: attentionEnd - blockStart, merge: mergeEnd - attentionEnd,
                    mlp: blockEnd - mergeEnd))
            if !alone, let pool = context.pool {
                // Waiting for helpers for a quarter of the block: their core is taken; go on alone.
                let waited = pool.takeWaitedMicroseconds()
                timing.helperWait += waited
                if deadline != nil, waited > 100, waited > 0.25 * (blockEnd - blockStart) {
                    alone = true
                    aloneCalls = Self.aloneCallsAfterStall
                    timing.aloneAfter = l
                }
            }
            blockStart = blockEnd
            if let deadline,
                let corrected = model.correctedPlan(
                    plan, after: l, available: deadline - blockEnd - margin, batch: batch, alone: alone,
                    ratio: costs.tail(batch: batch, alone: alone).ratio(at: LatencyTail.plannedQuantile), costs: &costs)
            {
                plan = corrected
                if correctedAt == nil { correctedAt = l }
            }
        }
        try context.checkAbort("before the head")
        let headStart = clock()

        // Final norm over all tokens, then the head on the class token (and the distillation head on
        // token 1, averaged with it).
        layerNorm(x, rows: batch * t, weight: w.normWeight, bias: w.normBias, into: h)
        var logits = Tensor(zeros: [batch, c.classes])
        logits.values.withUnsafeMutableBufferPointer { out in
            head(h, stride: t * d, batch: batch, weight: w.headWeight, bias: w.headBias, into: out.baseAddress!)
            if let hw = w.headDistWeight, let hb = w.headDistBias {
                let second = arena.floats(batch * c.classes)
                head(h + d, stride: t * d, batch: batch, weight: hw, bias: hb, into: second)
                Kernels.add(out.baseAddress!, second, into: out.baseAddress!, count: batch * c.classes)
                Kernels.scale(out.baseAddress!, count: batch * c.classes, by: 0.5)
            }
        }
        let tokens = Tensor(shape: [batch, t, d], values: Array(UnsafeBufferPointer(start: h, count: batch * t * d)))
        let sizeTensor = Tensor(shape: [batch, t], values: Array(UnsafeBufferPointer(start: sizes, count: batch * t)))
        timing.head = clock() - headStart
        return ([logits, tokens, sizeTensor], timing, correctedAt)
    }

    /// `out[b] = W · rows[b·stride] + bias` for the `batch` rows `stride` floats apart.
    private func head(
        _ rows: UnsafePointer<Float>, stride: Int, batch: Int, weight matrix: ViTMatrix,
        bias: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
    ) {
        let c = model.config
        guard matrix.type == .f32 else {
            linear(
                rows, lda: stride, rows: batch, inFeatures: c.dim, weight: matrix, bias: bias,
                outFeatures: c.classes, into: out)
            return
        }
        let weight = matrix.floats
        for i in 0..<batch { (out + i * c.classes).update(from: bias, count: c.classes) }
        BLAS.sgemm(
            transA: false, transB: true, m: batch, n: c.classes, k: c.dim, alpha: 1, a: rows, lda: stride,
            b: weight, ldb: c.dim, beta: 1, c: out, ldc: c.classes)
    }

    /// Patch embedding as one GEMM per image over im2col rows, plus class/dist tokens and positions.
    /// `patches` holds `batch · patches · patchLength` floats of scratch.
    private func embed(
        _ input: UnsafePointer<Float>, batch: Int, patches: UnsafeMutablePointer<Float>,
        into x: UnsafeMutablePointer<Float>
    ) {
        let c = model.config
        let w = model.weights
        let d = c.dim
        let p = c.patch
        let gh = c.gridHeight
        let gw = c.gridWidth
        let pl = c.patchLength
        let hImg = c.imageHeight
        let wImg = c.imageWidth
        let np = c.patches
        let n0 = c.tokens
        // im2col: patch (gy, gx) becomes a row ordered (channel, kh, kw), like the conv weight.
        for b in 0..<batch {
            for ch in 0..<c.channels {
                let plane = input + (b * c.channels + ch) * hImg * wImg
                for gy in 0..<gh {
                    for kh in 0..<p {
                        let src = plane + (gy * p + kh) * wImg
                        let rowBase = patches + (b * np + gy * gw) * pl + ch * p * p + kh * p
                        for gx in 0..<gw {
                            (rowBase + gx * pl).update(from: src + gx * p, count: p)
                        }
                    }
                }
            }
        }
        let firstPatchPosition = c.noEmbedClass ? 0 : c.prefix
        for b in 0..<batch {
            let img = x + b * n0 * d
            // Prefix tokens: class (and distillation) token plus their positions.
            img.update(from: w.classToken, count: d)
            if let dist = w.distToken { (img + d).update(from: dist, count: d) }
            if !c.noEmbedClass { Kernels.add(img, w.positions, into: img, count: c.prefix * d) }
            // Patch rows start as bias + position; the GEMM accumulates into them.
            for i in 0..<np {
                Kernels.add(
                    w.patchBias, w.positions + (firstPatchPosition + i) * d, into: img + (c.prefix + i) * d, count: d)
            }
            linear(
                patches + b * np * pl, rows: np, inFeatures: pl, weight: w.patchWeight, bias: nil, outFeatures: d,
                into: img + c.prefix * d, accumulate: true)
        }
    }
}
