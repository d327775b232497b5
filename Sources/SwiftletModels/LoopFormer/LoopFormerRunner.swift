import Glibc
import SwiftletKernels

/// Session state of a LoopFormer: scratch arena, the modulation vectors of recent trajectories, and
/// the language-model cache (K/V per (loop step, block), logits of the last call).
///
/// The cache belongs to the trajectory chosen at `prefill`: `decode` keeps using it, and a different
/// trajectory needs a new `prefill`, which recomputes the prefix.
final class LoopFormerRunner: FamilyRunner {
    let model: LoopFormerModel
    let context: ExecutionContext
    let kv: LoopFormerKVLayout
    let lm: LanguageModelState
    private var arena: Arena { context.arena }

    /// Modulation vectors per trajectory, computed once (they do not depend on the tokens).
    private var modulations: [[Double]: LoopFormerModulation] = [:]
    private var modulationOrder: [[Double]] = []
    private static let modulationCacheSize = 16

    /// Latency per GFLOP of whole-sequence runs, calibrated by those runs.
    private var runLatency = LatencyModel()
    /// What a decode step costs on this session's threads (measured by `calibrateDecode`); prefill
    /// chooses by it, since its trajectory then governs every decoded token. nil until the first
    /// latency budget or `calibrate()`.
    private var decodeCost: LoopFormerDecodeCost?
    /// The per-token latency limit of the sequence in progress, from its prefill's budget.
    private var tokenLimitMs: Double?

    /// The K/V cache of the sequence (see `LoopFormerKVLayout`) and the trajectory that filled it.
    private let cache = FloatBuffer()
    private var cacheModulation: LoopFormerModulation?
    /// Rows of a compact weight matrix decoded for one multi-row product (see `Kernels.linear`).
    private let panel = FloatBuffer()

    init(model: LoopFormerModel, context: ExecutionContext) {
        self.model = model
        self.context = context
        kv = LoopFormerKVLayout(blocks: model.blockCount, context: model.contextLength, width: model.width)
        lm = LanguageModelState(vocab: model.vocab, contextLength: model.contextLength, width: model.width)
    }

    // MARK: whole sequences

    func run(_ inputs: [TensorView], budget: Budget) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(
                .invalidArgument, "loopformer takes 1 input ('input_ids' int32 [batch, sequence]), got \(inputs.count)")
        }
        let input = inputs[0]
        try input.validate(against: model.inputs[0])
        let batch = input.shape[0]
        let seq = input.shape[1]
        guard batch > 0, seq > 0 else {
            throw ModelError(.shape, "input 'input_ids' must hold at least one token per row, got shape \(input.shape)")
        }
        try lm.checkLength(seq)
        let ids = input.int32s
        try lm.checkIDs(ids)
        let (rows, o1) = batch.multipliedReportingOverflow(by: seq)
        let (outCount, o2) = rows.multipliedReportingOverflow(by: model.vocab)
        guard !o1, !o2, outCount < 1 << 36 else {
            throw ModelError(.shape, "input 'input_ids' of shape \(input.shape) is too large")
        }
        let steps = try model.chooseTrajectory(budget, keys: seq) { [model, runLatency] loops in
            runLatency.predictMicroseconds(gflops: Double(batch) * model.gflops(tokens: seq, past: 0, loops: loops))
        }

        let start = context.clock()
        let (modulation, conditioning) = modulation(for: steps)
        let s = try scratch(rows: rows)
        for b in 0..<batch {
            embed(ids.baseAddress! + b * seq, count: seq, firstPosition: 0, into: s.x + b * seq * model.width)
        }
        try stack(s, batch: batch, seq: seq, past: 0, modulation: modulation, cache: nil)
        var out = Tensor(zeros: [batch, seq, model.vocab])
        out.values.withUnsafeMutableBufferPointer { head(s, rows: rows, into: $0.baseAddress!) }
        arena.reset()

        let gflops = Double(batch) * model.gflops(tokens: seq, past: 0, loops: steps.count) + conditioning
        report(steps: steps, gflops: gflops)
        runLatency.observe(gflops: gflops, microseconds: context.clock() - start)
        return [out]
    }

    // MARK: language model

    var languageModel: LanguageModelState? { lm }

    /// Starts a sequence: chooses the trajectory from the budget, clears the cache and fills it with
    /// the prompt. The last position's logits are computed now (`lastLogits`); the other positions'
    /// when `logits` is first read.
    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget) throws(ModelError) {
        // The old sequence is gone from here on, whether or not this prefill completes.
        let (out, deferred) = try lm.startPrefill(ids)
        cacheModulation = nil
        tokenLimitMs = nil
        // A per-token limit plans for the last token the generation will decode.
        let target = min(ids.count + (budget.generationTokens ?? 0), model.contextLength)
        if budget.generationMs != nil, budget.generationTokens == nil {
            throw ModelError(
                .budget,
                "a whole-generation deadline needs generation_tokens, the number of tokens the generation decodes")
        }
        let timed = budget.maxLatencyMs != nil || budget.generationMs != nil
        if timed, budget.loops == nil, budget.trajectory == nil, decodeCost == nil {
            try calibrateDecode(keys: target)
        }
        let cost = decodeCost
        let prompt = ids.count
        let tokens = budget.generationTokens ?? 0
        // The deadline counts from the start of this call: a calibration that just ran spent part of it.
        let spent = context.clock() - context.callStart
        let steps = try model.chooseTrajectory(
            budget, keys: target,
            predict: { [model] loops in cost?.predictTail(loops: loops, keys: target, model: model) },
            fitsDeadline: { [model] loops in
                guard let cost, let limit = budget.generationMs else { return true }
                let planned = cost.predictGeneration(loops: loops, prompt: prompt, tokens: tokens, model: model)
                return planned <= limit * 1000 - spent
            })

        let seq = ids.count
        let (modulation, conditioning) = modulation(for: steps)
        guard let need = kv.floats(steps: steps.count) else {
            throw ModelError(.budget, "the K/V cache for \(steps.count) loop steps is too large; use fewer steps")
        }
        let kvCache = try cache.ensure(need, what: "the K/V cache for \(steps.count) loop steps")
        let s = try scratch(rows: seq)
        embed(ids.baseAddress!, count: seq, firstPosition: 0, into: s.x)
        try stack(s, batch: 1, seq: seq, past: 0, modulation: modulation, cache: kvCache)
        // The head of the last position now; the others' only if `logits` is read.
        let C = model.width
        Kernels.rmsNorm(s.x, rows: seq, cols: C, weight: model.normF, eps: model.eps, into: s.h)
        headRows(s.h + (seq - 1) * C, rows: 1, into: out + (seq - 1) * model.vocab)
        deferred?.update(from: s.h, count: (seq - 1) * C)
        arena.reset()

        cacheModulation = modulation
        tokenLimitMs = budget.maxLatencyMs
        lm.finishPrefill(count: seq)
        report(steps: steps, gflops: model.gflops(tokens: seq, past: 0, loops: steps.count, headRows: 1) + conditioning)
        if budget.maxLatencyMs != nil, let cost {
            // What one decode step of this sequence is planned to take, at its last token.
            context.report.predictedMicroseconds = cost.predictTail(loops: steps.count, keys: target, model: model)
        }
        if budget.generationMs != nil, let cost {
            context.report.values["planned_generation_us"] = [
                cost.predictGeneration(loops: steps.count, prompt: prompt, tokens: tokens, model: model)
            ]
        }
        if let us = calibrationMicroseconds { context.report.values["calibration_us"] = [us] }
    }

    /// Appends one token through the cache, with the trajectory chosen at prefill.
    func decode(_ id: Int32) throws(ModelError) {
        let out = try lm.startDecode(id)
        guard let modulation = cacheModulation, let kvCache = cache.pointer else {
            throw ModelError(.state, "decode needs a prefill first")
        }
        if let limit = tokenLimitMs { context.deadline = context.callStart + limit * 1000 }
        let start = context.clock()
        let past = lm.position
        let s = try scratch(rows: 1)
        var token = id
        embed(&token, count: 1, firstPosition: past, into: s.x)
        try stack(s, batch: 1, seq: 1, past: past, modulation: modulation, cache: kvCache)
        head(s, rows: 1, into: out)
        arena.reset()

        let gflops = model.gflops(tokens: 1, past: past, loops: modulation.steps.count)
        lm.finishDecode()
        report(steps: modulation.steps, gflops: gflops)
        if let cost = decodeCost {
            let loops = modulation.steps.count
            if tokenLimitMs != nil {
                context.report.predictedMicroseconds = cost.predictTail(loops: loops, keys: past + 1, model: model)
            }
            decodeCost?.tail.observe(
                predicted: cost.predict(loops: loops, keys: past + 1, model: model), actual: context.clock() - start)
        }
    }

    /// Microseconds the decode calibration took; nil until it ran.
    private var calibrationMicroseconds: Double?

    /// Measures the decode step for latency budgets, at half the context (a prefill's budget then
    /// scales it to the keys it plans for).
    func calibrate() throws(ModelError) {
        try calibrateDecode(keys: max(model.contextLength / 2, 1))
    }

    /// Times decode steps of one and four loop steps whose token attends `keys` keys, on scratch rows
    /// of the K/V cache (called when there is no sequence, or at a prefill that replaces it): the
    /// median of four after a warm-up each. Four, not two, so that the per-step part is measured over
    /// three steps' difference and extrapolated less far to the longest trajectories. Sets `decodeCost`.
    private func calibrateDecode(keys: Int) throws(ModelError) {
        let started = context.clock()
        let keys = max(1, min(keys, model.contextLength))
        var medians: [Double] = []
        for steps in [[1.0], [0.25, 0.25, 0.25, 0.25]] {
            let (modulation, _) = modulation(for: steps)
            guard let need = kv.floats(steps: steps.count) else {
                throw ModelError(.budget, "the K/V cache for \(steps.count) loop steps is too large")
            }
            let kvCache = try cache.ensure(need, what: "the K/V cache for \(steps.count) loop steps")
            // Rows the step attends are read: zeros, not whatever the allocation held.
            kvCache.update(repeating: 0, count: need)
            var times: [Double] = []
            for rep in 0..<5 {
                let t0 = context.clock()
                let s = try scratch(rows: 1)
                let logits = arena.floats(model.vocab)
                var token: Int32 = 0
                embed(&token, count: 1, firstPosition: keys - 1, into: s.x)
                try stack(s, batch: 1, seq: 1, past: keys - 1, modulation: modulation, cache: kvCache)
                head(s, rows: 1, into: logits)
                arena.reset()
                if rep > 0 { times.append(context.clock() - t0) }
            }
            medians.append(times.sorted()[times.count / 2])
        }
        // A prompt-sized pass of one loop step, for whole-generation deadlines: the median of three.
        let prefillTokens = max(1, min(keys, 64))
        let (single, _) = modulation(for: [1.0])
        guard let need = kv.floats(steps: 1) else {
            throw ModelError(.budget, "the K/V cache for 1 loop step is too large")
        }
        let kvCache = try cache.ensure(need, what: "the K/V cache for 1 loop step")
        var prefillTimes: [Double] = []
        var ids = [Int32](repeating: 0, count: prefillTokens)
        for rep in 0..<4 {
            let t0 = context.clock()
            let s = try scratch(rows: prefillTokens)
            embed(&ids, count: prefillTokens, firstPosition: 0, into: s.x)
            try stack(s, batch: 1, seq: prefillTokens, past: 0, modulation: single, cache: kvCache)
            arena.reset()
            if rep > 0 { prefillTimes.append(context.clock() - t0) }
        }
        let perLoop = max((medians[1] - medians[0]) / 3, 1e-3)
        decodeCost = LoopFormerDecodeCost(
            fixed: max(medians[0] - perLoop, 0), perLoop: perLoop, keys: keys,
            prefillPerLoop: prefillTimes.sorted()[prefillTimes.count / 2], prefillTokens: prefillTokens)
        calibrationMicroseconds = context.clock() - started
    }

    // MARK: the network

    /// Scratch of one pass over `rows` token rows.
    private struct Scratch {
        let x: UnsafeMutablePointer<Float> // [rows, C] residual stream
        let h: UnsafeMutablePointer<Float> // [rows, C] modulated norm
        let qkv: UnsafeMutablePointer<Float> // [rows, 3C]
        let y: UnsafeMutablePointer<Float> // [rows, C] attention output
        let proj: UnsafeMutablePointer<Float> // [rows, C] sublayer output
        let u: UnsafeMutablePointer<Float> // [rows, I] MLP hidden
    }

    private func scratch(rows: Int) throws(ModelError) -> Scratch {
        let C = model.width
        let I = model.hidden
        arena.reset()
        // Six activations plus the attention kernel's score tile (≤ 64 Ki floats or one score row),
        // with room for each buffer's alignment.
        let (perRow, o1) = rows.multipliedReportingOverflow(by: 6 * C + I)
        let floats = perRow + max(64 * 1024, model.contextLength) + 16 * 8
        do {
            guard !o1 else { throw KernelError.outOfMemory(bytes: Int.max) }
            try arena.reserve(bytes: floats * MemoryLayout<Float>.stride)
        } catch {
            throw ModelError(
                .outOfMemory,
                "cannot allocate scratch for \(rows) token rows (\(error)); use a smaller batch or shorter sequence")
        }
        try panel.ensure(max(model.panelFloats, 1), what: "the weight panel")
        for p in 0..<context.threads {
            let a = context.partArena(p)
            a.reset()
            do {
                try a.reserve(bytes: (max(64 * 1024, model.contextLength) + 16) * MemoryLayout<Float>.stride)
            } catch {
                throw ModelError(.outOfMemory, "cannot allocate attention scratch (\(error))")
            }
        }
        return Scratch(
            x: arena.floats(rows * C), h: arena.floats(rows * C), qkv: arena.floats(rows * 3 * C),
            y: arena.floats(rows * C), proj: arena.floats(rows * C), u: arena.floats(rows * I))
    }

    /// `y = x · Wᵀ + bias` with W in its stored format (one row: a matrix-vector product).
    private func linear(
        _ x: UnsafePointer<Float>, rows: Int, _ w: CompactMatrix, bias: UnsafePointer<Float>?,
        into y: UnsafeMutablePointer<Float>
    ) {
        Kernels.linear(
            x, rows: rows, weight: w, bias: bias, into: y, panel: panel.pointer!, panelFloats: panel.capacity,
            pool: context.pool)
    }

    /// Causal attention of all heads (`Kernels.attention`), the heads split among the session's threads.
    private func attention(
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int,
        v: UnsafePointer<Float>, ldv: Int, out: UnsafeMutablePointer<Float>,
        seqQ: Int, seqK: Int, queryOffset: Int, scale: Float
    ) throws(KernelError) {
        let H = model.heads
        let d = model.headDim
        let parts = min(context.threads, H)
        if parts == 1 {
            try Kernels.attention(
                q: q, ldq: ldq, k: k, ldk: ldk, v: v, ldv: ldv, out: out, ldo: model.width,
                seqQ: seqQ, seqK: seqK, heads: H, headDim: d, scale: scale, causal: true,
                queryOffset: queryOffset, scratch: arena)
            return
        }
        let failures = UnsafeMutablePointer<KernelError?>.allocate(capacity: parts)
        failures.initialize(repeating: nil, count: parts)
        defer {
            failures.deinitialize(count: parts)
            failures.deallocate()
        }
        let C = model.width
        let context = self.context
        context.parallel(parts: parts) { p in
            let h0 = H * p / parts
            let h1 = H * (p + 1) / parts
            do throws(KernelError) {
                try Kernels.attention(
                    q: q + h0 * d, ldq: ldq, k: k + h0 * d, ldk: ldk, v: v + h0 * d, ldv: ldv,
                    out: out + h0 * d, ldo: C, seqQ: seqQ, seqK: seqK, heads: h1 - h0, headDim: d,
                    scale: scale, causal: true, queryOffset: queryOffset, scratch: context.partArena(p))
            } catch {
                failures[p] = error
            }
        }
        for p in 0..<parts { if let e = failures[p] { throw e } }
    }

    /// GELU in place over `count` values, split among the session's threads.
    private func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let parts = min(context.threads, max(count / (64 * 1024), 1))
        context.parallel(parts: parts) { p in
            let a = count * p / parts
            let b = count * (p + 1) / parts
            Kernels.geluFast(x + a, count: b - a)
        }
    }

    /// x = wte[id] + wpe[position] for `count` consecutive positions.
    private func embed(_ ids: UnsafePointer<Int32>, count: Int, firstPosition: Int, into x: UnsafeMutablePointer<Float>)
    {
        let C = model.width
        for t in 0..<count {
            let p = model.wpe + (firstPosition + t) * C
            let row = x + t * C
            Kernels.dequantizeRows(model.wte, from: Int(ids[t]), count: 1, into: row)
            for c in 0..<C { row[c] += p[c] }
        }
    }

    /// Every loop step of the trajectory over x [batch·seq, C], in place. With `cache` (batch 1) the
    /// rows are positions past..<past+seq: their K/V are stored and attention reads the whole cache.
    private func stack(
        _ s: Scratch, batch: Int, seq: Int, past: Int, modulation: LoopFormerModulation,
        cache: UnsafeMutablePointer<Float>?
    ) throws(ModelError) {
        let C = model.width
        let I = model.hidden
        let rows = batch * seq
        let scale = 1 / Float(model.headDim).squareRoot()
        let loops = modulation.steps.count
        for step in 0..<loops {
            try context.checkAbort("before loop step \(step + 1) of \(loops)")
            for (i, block) in model.blocks.enumerated() {
                let m = modulation.values + modulation.offset(step: step, block: i)
                let gateMSA = m
                let gateMLP = m + C
                let scaleMSA = m + 2 * C
                let scaleMLP = m + 3 * C

                // x += gate_msa ⊙ attn(rms(x) ⊙ (1 + scale_msa))
                Kernels.rmsNorm(s.x, rows: rows, cols: C, weight: scaleMSA, eps: model.eps, into: s.h)
                linear(s.h, rows: rows, block.attnWeight, bias: block.attnBias, into: s.qkv)
                do {
                    if let cache {
                        let o = kv.offsets(step: step, block: i)
                        let keys = cache + o.k
                        let values = cache + o.v
                        for t in 0..<seq {
                            (keys + (past + t) * C).update(from: s.qkv + t * 3 * C + C, count: C)
                            (values + (past + t) * C).update(from: s.qkv + t * 3 * C + 2 * C, count: C)
                        }
                        if seq == 1 {
                            let mark = arena.mark()
                            LoopFormerDecodeAttention.run(
                                q: s.qkv, keys: keys, values: values, ld: C, keys: past + 1, heads: model.heads,
                                headDim: model.headDim, scale: scale, scores: arena.floats(past + 1), out: s.y)
                            arena.release(to: mark)
                        } else {
                            try attention(
                                q: s.qkv, ldq: 3 * C, k: keys, ldk: C, v: values, ldv: C, out: s.y,
                                seqQ: seq, seqK: past + seq, queryOffset: past, scale: scale)
                        }
                    } else {
                        for b in 0..<batch {
                            let q = s.qkv + b * seq * 3 * C
                            try attention(
                                q: q, ldq: 3 * C, k: q + C, ldk: 3 * C, v: q + 2 * C, ldv: 3 * C,
                                out: s.y + b * seq * C, seqQ: seq, seqK: seq, queryOffset: 0, scale: scale)
                        }
                    }
                } catch {
                    throw ModelError(.internalError, "loopformer attention: \(error)")
                }
                linear(s.y, rows: rows, block.attnProjWeight, bias: block.attnProjBias, into: s.proj)
                Self.gatedAdd(s.proj, gate: gateMSA, into: s.x, rows: rows, cols: C)

                // x += gate_mlp ⊙ mlp(rms(x) ⊙ (1 + scale_mlp))
                Kernels.rmsNorm(s.x, rows: rows, cols: C, weight: scaleMLP, eps: model.eps, into: s.h)
                linear(s.h, rows: rows, block.fcWeight, bias: block.fcBias, into: s.u)
                gelu(s.u, count: rows * I)
                linear(s.u, rows: rows, block.mlpProjWeight, bias: block.mlpProjBias, into: s.proj)
                Self.gatedAdd(s.proj, gate: gateMLP, into: s.x, rows: rows, cols: C)
            }
        }
    }

    /// logits = (rms(x) ⊙ norm_f) · wteᵀ (the tied head), for every row.
    private func head(_ s: Scratch, rows: Int, into out: UnsafeMutablePointer<Float>) {
        Kernels.rmsNorm(s.x, rows: rows, cols: model.width, weight: model.normF, eps: model.eps, into: s.h)
        headRows(s.h, rows: rows, into: out)
    }

    /// logits = normed · wteᵀ for rows already through the final norm (a prefill's deferred rows too).
    func head(normed: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        headRows(normed, rows: rows, into: out)
    }

    private func headRows(_ normed: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        linear(normed, rows: rows, model.wte, bias: nil, into: out)
    }

    /// x[r, c] += gate[c] · y[r, c].
    @inline(__always)
    private static func gatedAdd(
        _ y: UnsafePointer<Float>, gate: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>,
        rows: Int, cols: Int
    ) {
        for r in 0..<rows {
            let xr = x + r * cols
            let yr = y + r * cols
            for c in 0..<cols { xr[c] += gate[c] * yr[c] }
        }
    }

    // MARK: helpers

    /// The modulation vectors of `steps` (cached) and the GFLOP spent computing them now (0 if cached).
    private func modulation(for steps: [Double]) -> (LoopFormerModulation, Double) {
        if let m = modulations[steps] { return (m, 0) }
        if modulations.count >= Self.modulationCacheSize, !modulationOrder.isEmpty {
            modulations[modulationOrder.removeFirst()] = nil
        }
        let m = LoopFormerModulation(model: model, steps: steps, pool: context.pool)
        modulations[steps] = m
        modulationOrder.append(steps)
        return (m, model.conditioningGFLOPs(loops: steps.count))
    }

    private func report(steps: [Double], gflops: Double) {
        context.report.loops = steps.count
        context.report.layers = steps.count * model.blockCount
        context.report.gflops = gflops
        context.report.choice = LoopFormerModel.describe(steps)
        context.report.values["trajectory"] = steps
        context.report.predictedQuality = model.quality(of: steps)
    }
}
