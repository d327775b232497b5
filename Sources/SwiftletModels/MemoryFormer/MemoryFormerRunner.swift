import Glibc
import SwiftletKernels

/// Session state of a MemoryFormer model: scratch arena, the KV cache (keys stored after rotary),
/// the logits of the last call, and the record of which table rows this session has read.
final class MemoryFormerRunner: FamilyRunner {
    let model: MemoryFormerModel
    let context: ExecutionContext
    let lm: LanguageModelState
    var latency = LatencyModel(microsecondsPerGFLOP: 20_000, fixedMicroseconds: 20)
    private var arena: Arena { context.arena }

    // KV cache, one allocation: [layer][key, value][capacity][hidden].
    private let cache = FloatBuffer()
    /// Decoded rows of a compact LM head for products of several rows (prefill, whole sequences).
    private let panel = FloatBuffer()
    private var cacheCapacity = 0
    private var sequenceBudget = Budget()

    /// Per layer: rows read of the shared Q/K/V tables, the MLP's first and second tables.
    private var touched: [(attention: MemoryRowTracker, mlpIn: MemoryRowTracker, mlpOut: MemoryRowTracker)]

    init(model: MemoryFormerModel, context: ExecutionContext) {
        self.model = model
        self.context = context
        lm = LanguageModelState(
            vocab: model.config.vocab, contextLength: model.config.context, width: model.config.hidden)
        touched = model.layers.map { l in
            (
                MemoryRowTracker(rowCount: l.query.rowCount), MemoryRowTracker(rowCount: l.mlpIn.rowCount),
                MemoryRowTracker(rowCount: l.mlpOut.rowCount)
            )
        }
    }

    var languageModel: LanguageModelState? { lm }

    /// The LM head over rows through the final norm (a prefill's deferred rows).
    /// A compact head is read in place: one row through the compact matrix-vector product, several
    /// through `Kernels.linear`'s products like every other compact matrix (q8_row: int8 products with
    /// the activations rounded to int8 or int16 per row where the CPU has them; bf16: bfloat16
    /// products with the activations rounded to bfloat16 on AVX-512 BF16; else panels of decoded rows).
    func head(normed: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {
        let h = model.head
        if h.format == .f32 {
            let c = model.config
            Kernels.linear(
                normed, rows: rows, inFeatures: c.hidden, weight: h.values.assumingMemoryBound(to: Float.self),
                bias: nil, outFeatures: c.vocab, into: logits, pool: context.pool)
            return
        }
        if rows == 1 {
            Kernels.gemv(h, x: normed, bias: nil, into: logits, pool: context.pool)
            return
        }
        // The panel is made in `reserveScratch`, before any call that reaches here; without it,
        // one matrix-vector product per row.
        Kernels.linear(
            normed, rows: rows, weight: h, bias: nil, into: logits, panel: panel.pointer ?? logits,
            panelFloats: panel.pointer == nil ? 0 : panel.capacity, pool: context.pool)
    }

    // MARK: whole sequences

    func run(_ inputs: [TensorView], budget: Budget) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(
                .invalidArgument,
                "memoryformer takes 1 input ('input_ids' int32 [batch, sequence]), got \(inputs.count)")
        }
        try model.verifyTables()
        let ids = inputs[0]
        try ids.validate(against: model.inputs[0])
        let batch = ids.shape[0]
        let length = ids.shape[1]
        guard batch >= 1, length >= 1 else {
            throw ModelError(
                .shape, "input_ids must hold at least one sequence of at least one token, got shape \(ids.shape)")
        }
        try lm.checkLength(length)
        try lm.checkIDs(ids.int32s)
        let perToken = model.gflops(tokens: length, start: 0) / Double(length)
        try checkBudget(budget, gflopsPerToken: perToken)

        let start = context.clock()
        let c = model.config
        var out = Tensor(zeros: [batch, length, c.vocab])
        arena.reset()
        try reserveScratch(tokens: length, extraFloats: 2 * c.layers * length * c.hidden)
        let kv = arena.floats(2 * c.layers * length * c.hidden)
        let source = ids.int32s.baseAddress!
        try out.values.withUnsafeMutableBufferPointer { (logits) throws(ModelError) in
            for b in 0..<batch {
                try context.checkAbort("before sequence \(b)")
                // Each sequence reuses the same scratch.
                let mark = arena.mark()
                defer { arena.release(to: mark) }
                try forward(
                    source + b * length, count: length, start: 0, cache: kv, capacity: length,
                    logits: logits.baseAddress! + b * length * c.vocab, deferTo: nil)
            }
        }
        let gflops = model.gflops(tokens: length, start: 0) * Double(batch)
        latency.observe(gflops: gflops, microseconds: context.clock() - start)
        fillReport(gflops: gflops, tokens: batch * length)
        return [out]
    }

    // MARK: generation

    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget) throws(ModelError) {
        try model.verifyTables()
        // The cache is invalid until this prefill completes.
        let (logits, deferred) = try lm.startPrefill(ids)
        try checkBudget(budget, gflopsPerToken: model.gflops(tokens: ids.count, start: 0) / Double(ids.count))
        sequenceBudget = budget
        try ensureCache(ids.count)
        let start = context.clock()
        arena.reset()
        try reserveScratch(tokens: ids.count, extraFloats: 0)
        try forward(
            ids.baseAddress!, count: ids.count, start: 0, cache: cache.pointer!, capacity: cacheCapacity,
            logits: logits, deferTo: deferred)
        lm.finishPrefill(count: ids.count)
        let gflops = model.gflops(tokens: ids.count, start: 0, headRows: 1)
        latency.observe(gflops: gflops, microseconds: context.clock() - start)
        fillReport(gflops: gflops, tokens: ids.count)
    }

    func decode(_ id: Int32) throws(ModelError) {
        try model.verifyTables()
        let past = lm.position
        let gflops = model.gflops(tokens: 1, start: past)
        try checkBudget(sequenceBudget, gflopsPerToken: gflops)
        let logits = try lm.startDecode(id)
        var token = id
        try ensureCache(past + 1)
        let start = context.clock()
        arena.reset()
        try reserveScratch(tokens: 1, extraFloats: 0)
        try forward(
            &token, count: 1, start: past, cache: cache.pointer!, capacity: cacheCapacity,
            logits: logits, deferTo: nil)
        lm.finishDecode()
        latency.observe(gflops: gflops, microseconds: context.clock() - start)
        fillReport(gflops: gflops, tokens: lm.position)
    }

    // MARK: the network

    /// Runs tokens `ids[0 ..< count]` at positions `start ..< start + count`: their keys (after
    /// rotary) and values go to rows `start...` of each layer's slice of `cache`, whose earlier rows
    /// hold the positions before; their logits go to `logits[count, vocab]` — or, with `deferTo`,
    /// only the last position's, the other positions' final-normed rows going to `deferTo`.
    private func forward(
        _ ids: UnsafePointer<Int32>, count S: Int, start: Int,
        cache: UnsafeMutablePointer<Float>, capacity: Int,
        logits: UnsafeMutablePointer<Float>, deferTo: UnsafeMutablePointer<Float>?
    ) throws(ModelError) {
        let m = model
        let c = m.config
        let H = c.hidden
        let W = c.mlpWidth
        let x = arena.floats(S * H)
        let normed = arena.floats(S * H)
        let q = arena.floats(S * H)
        let attended = arena.floats(S * H)
        let middle = arena.floats(S * W)
        let maxTables = max(c.attentionTables, c.mlpTables)
        let codes = arena.ints(S * maxTables)
        let weights = arena.floats(S * maxTables)
        let scale = 1 / Float(c.headDim).squareRoot()
        let pool = context.pool

        try embed(ids, count: S, into: x)
        for (i, layer) in m.layers.enumerated() {
            try context.checkAbort("before layer \(i)")
            let keys = cache + (2 * i) * capacity * H
            let values = keys + capacity * H
            let newKeys = keys + start * H
            let newValues = values + start * H

            // Attention: one hash of the normed input picks the Q, K and V rows.
            Kernels.rmsNorm(
                x, rows: S, cols: H, weight: layer.inputNorm.baseAddress, eps: c.rmsEpsilon,
                epsilon: .addedToRMS, into: normed)
            try kernel { () throws(KernelError) in
                try Kernels.memoryHash(
                    normed, rows: S, ldz: H, tables: c.attentionTables,
                    codeLength: c.attentionCodeLength, codes: codes, weights: weights)
                try Kernels.memoryGather(
                    codes: codes, weights: weights, rows: S, table: layer.query,
                    bias: layer.queryBias.baseAddress, into: q, ldy: H, pool: pool)
                try Kernels.memoryGather(
                    codes: codes, weights: weights, rows: S, table: layer.key,
                    bias: layer.keyBias.baseAddress, into: newKeys, ldy: H, pool: pool)
                try Kernels.memoryGather(
                    codes: codes, weights: weights, rows: S, table: layer.value,
                    bias: layer.valueBias.baseAddress, into: newValues, ldy: H, pool: pool)
            }
            touched[i].attention.mark(
                codes: codes, rows: S, tables: c.attentionTables, codeLength: c.attentionCodeLength)
            m.rotary.apply(q, rows: S, ld: H, heads: c.heads, headDim: c.headDim, firstPosition: start)
            m.rotary.apply(newKeys, rows: S, ld: H, heads: c.heads, headDim: c.headDim, firstPosition: start)
            try kernel { () throws(KernelError) in
                try Kernels.attention(
                    q: q, ldq: H, k: keys, ldk: H, v: values, ldv: H, out: attended, ldo: H,
                    seqQ: S, seqK: start + S, heads: c.heads, headDim: c.headDim, scale: scale,
                    causal: true, queryOffset: start, scratch: arena)
            }
            Kernels.add(x, attended, into: x, count: S * H) // no dense output projection

            // MLP: memory layer → LayerNorm → memory layer with extra bits, on RMSNorm(a).
            Kernels.rmsNorm(
                x, rows: S, cols: H, weight: layer.postNorm.baseAddress, eps: c.rmsEpsilon,
                epsilon: .addedToRMS, into: normed)
            try kernel { () throws(KernelError) in
                try Kernels.memoryHash(
                    normed, rows: S, ldz: H, tables: c.mlpTables, codeLength: c.mlpCodeLength,
                    codes: codes, weights: weights)
                try Kernels.memoryGather(
                    codes: codes, weights: weights, rows: S, table: layer.mlpIn,
                    bias: layer.mlpInBias.baseAddress, into: middle, ldy: W, pool: pool)
            }
            touched[i].mlpIn.mark(codes: codes, rows: S, tables: c.mlpTables, codeLength: c.mlpCodeLength)
            Kernels.layerNorm(
                middle, rows: S, cols: W, weight: layer.mlpNormWeight.baseAddress,
                bias: layer.mlpNormBias.baseAddress, eps: c.layerNormEpsilon, into: middle)
            let outBits = c.mlpCodeLength + c.extraBits
            try kernel { () throws(KernelError) in
                try Kernels.memoryHash(
                    middle, rows: S, ldz: W, tables: c.mlpTables, codeLength: outBits,
                    codes: codes, weights: weights)
                try Kernels.memoryGather(
                    codes: codes, weights: weights, rows: S, table: layer.mlpOut,
                    bias: layer.mlpOutBias.baseAddress, into: q, ldy: H, pool: pool)
            }
            touched[i].mlpOut.mark(codes: codes, rows: S, tables: c.mlpTables, codeLength: outBits)
            Kernels.add(x, q, into: x, count: S * H)
        }
        try context.checkAbort("before the LM head")
        Kernels.rmsNorm(
            x, rows: S, cols: H, weight: m.finalNorm.baseAddress, eps: c.rmsEpsilon,
            epsilon: .addedToRMS, into: normed)
        if let deferTo {
            deferTo.update(from: normed, count: (S - 1) * H)
            head(normed: normed + (S - 1) * H, rows: 1, into: logits + (S - 1) * c.vocab)
        } else {
            head(normed: normed, rows: S, into: logits)
        }
    }

    // MARK: helpers

    /// x[t] = embedding[ids[t]], decoded from its stored type (f32 rows are copied).
    private func embed(_ ids: UnsafePointer<Int32>, count: Int, into x: UnsafeMutablePointer<Float>) throws(ModelError)
    {
        let e = model.embedding
        for t in 0..<count {
            let id = Int(ids[t])
            guard id >= 0, id < e.rows else {
                throw ModelError(
                    .invalidArgument, "token id \(id) at position \(t) is outside the vocabulary 0..<\(e.rows)")
            }
        }
        for t in 0..<count {
            Kernels.dequantizeRows(e, from: Int(ids[t]), count: 1, into: x + t * e.cols)
        }
    }

    private func kernel(_ body: () throws(KernelError) -> Void) throws(ModelError) {
        do {
            try body()
        } catch {
            throw ModelError(.internalError, "memoryformer kernel: \(error)")
        }
    }

    /// The model has one setting, so a budget can only be met or refused: limits below the cost of a
    /// token throw instead of silently running something else.
    private func checkBudget(_ budget: Budget, gflopsPerToken: Double) throws(ModelError) {
        try budget.validate(for: model, stream: false)
        try budget.refuseIfOver(gflops: gflopsPerToken, latency: latency, what: "a token", family: model.family)
    }

    /// Makes sure the arena holds one forward pass of `tokens` tokens (plus `extraFloats`), so an
    /// oversized request fails with an error instead of trapping.
    private func reserveScratch(tokens: Int, extraFloats: Int) throws(ModelError) {
        let c = model.config
        let maxTables = max(c.attentionTables, c.mlpTables)
        let perToken = 4 * c.hidden + c.mlpWidth + 2 * maxTables
        // Attention scores: at most 64 Ki floats or one row of keys.
        let scores = max(64 * 1024, c.context)
        let floats = tokens * perToken + scores + extraFloats + 64 * 16
        do {
            try arena.reserve(bytes: floats * 4)
        } catch {
            throw ModelError(.outOfMemory, "not enough memory for \(tokens) tokens: \(error)")
        }
        if model.panelFloats > 0 { try panel.ensure(model.panelFloats, what: "the LM head's weight panel") }
    }

    /// Room for `positions` positions in the cache, keeping the cached ones (each layer's keys and
    /// values move to their place in the larger layout).
    private func ensureCache(_ positions: Int) throws(ModelError) {
        guard positions > cacheCapacity || cache.pointer == nil else { return }
        let c = model.config
        let capacity = min(c.context, max(positions, 2 * cacheCapacity, 64))
        let (perLayer, o1) = capacity.multipliedReportingOverflow(by: 2 * c.hidden)
        let (total, o2) = perLayer.multipliedReportingOverflow(by: c.layers)
        guard !o1, !o2 else { throw ModelError(.outOfMemory, "a KV cache of \(capacity) positions is too large") }
        let kept = lm.position
        let oldCapacity = cacheCapacity
        try cache.ensureKeeping(total, what: "a KV cache of \(capacity) positions") { old, _, fresh in
            for i in 0..<(2 * c.layers) where kept > 0 {
                (fresh + i * capacity * c.hidden).update(from: old + i * oldCapacity * c.hidden, count: kept * c.hidden)
            }
        }
        cacheCapacity = capacity
    }

    /// `tokens`: positions a whole-sequence run processed, or the tokens now in the KV cache.
    /// `resident_table_bytes` is what this session has read of the tables since it was made: one bit
    /// per table row (set when a hash selects the row), and each set row counted with its stored
    /// size (f32 4·out, f16 2·out, q8 out + 4 bytes, q4 ⌈out/2⌉ + 4·⌈out/32⌉; the Q, K and V rows of a shared code count
    /// three times). Rows are what a mapped table pages in; page granularity and read-ahead are not
    /// modelled.
    private func fillReport(gflops: Double, tokens: Int) {
        let m = model
        let c = m.config
        var perLayer: [Double] = []
        var rows = 0
        for (i, l) in m.layers.enumerated() {
            let t = touched[i]
            let bytes =
                t.attention.touchedRows * (l.query.bytesPerRow + l.key.bytesPerRow + l.value.bytesPerRow)
                + t.mlpIn.touchedRows * l.mlpIn.bytesPerRow + t.mlpOut.touchedRows * l.mlpOut.bytesPerRow
            rows += 3 * t.attention.touchedRows + t.mlpIn.touchedRows + t.mlpOut.touchedRows
            perLayer.append(Double(bytes))
        }
        let tableBytes = m.layers.reduce(0) {
            $0 + $1.query.totalBytes + $1.key.totalBytes + $1.value.totalBytes + $1.mlpIn.totalBytes
                + $1.mlpOut.totalBytes
        }
        context.report.gflops = gflops
        context.report.layers = c.layers
        context.report.tokensKept = tokens
        context.report.choice =
            m.weightStorage == "f32" ? "tables=\(m.tableStorage)" : "tables=\(m.tableStorage) head=\(m.weightStorage)"
        context.report.values["resident_table_bytes"] = [perLayer.reduce(0, +)]
        context.report.values["resident_table_bytes_per_layer"] = perLayer
        context.report.values["table_rows_touched"] = [Double(rows)]
        context.report.values["table_bytes"] = [Double(tableBytes)]
    }
}
