import Glibc
import SwiftletKernels

/// Session state of a MemoryFormer model: scratch arena, the KV cache (keys stored after rotary),
/// the logits of the last call, and the record of which table rows this session has read.
final class MemoryFormerRunner: FamilyRunner {
    let model: MemoryFormerModel
    let arena = Arena()
    var latency = LatencyModel(microsecondsPerGFLOP: 20_000, fixedMicroseconds: 20)

    // KV cache, one allocation: [layer][key, value][capacity][hidden].
    private var cache: UnsafeMutablePointer<Float>?
    private var cacheCapacity = 0
    private var cachePosition = 0
    private var sequenceBudget = Budget()

    private var logitStorage: UnsafeMutablePointer<Float>?
    private var logitCapacity = 0
    private var logitRows = 0
    /// After a prefill: the final-normed activations of the prompt positions but the last, whose LM
    /// head (most of a prefill's arithmetic for a large vocabulary) runs only if `logits` is read.
    private var deferredNormed: UnsafeMutablePointer<Float>?
    private var deferredCapacity = 0
    private var deferredRows = 0

    /// Per layer: rows read of the shared Q/K/V tables, the MLP's first and second tables.
    private var touched: [(attention: MemoryRowTracker, mlpIn: MemoryRowTracker, mlpOut: MemoryRowTracker)]

    /// Threads of the session (the API layer also sets OpenBLAS to this before each call); the
    /// gathers of a long prompt are split over them.
    let threads: Int

    init(model: MemoryFormerModel, threads: Int) {
        self.model = model
        self.threads = max(threads, 1)
        touched = model.layers.map { l in
            (MemoryRowTracker(rowCount: l.query.rowCount), MemoryRowTracker(rowCount: l.mlpIn.rowCount),
             MemoryRowTracker(rowCount: l.mlpOut.rowCount))
        }
    }

    deinit {
        free(cache)
        free(logitStorage)
        free(deferredNormed)
    }

    var contextLength: Int { model.config.context }
    var position: Int { cachePosition }
    var vocabSize: Int { model.config.vocab }
    var logits: UnsafeBufferPointer<Float> {
        guard let out = logitStorage, logitRows > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        if deferredRows > 0, let normed = deferredNormed {
            let c = model.config
            Kernels.linear(normed, rows: deferredRows, inFeatures: c.hidden, weight: model.head.baseAddress!, bias: nil,
                           outFeatures: c.vocab, into: out)
            deferredRows = 0
        }
        return UnsafeBufferPointer(start: out, count: logitRows * model.config.vocab)
    }

    var lastLogits: UnsafeBufferPointer<Float> {
        guard let out = logitStorage, logitRows > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: out + (logitRows - 1) * model.config.vocab, count: model.config.vocab)
    }

    // MARK: whole sequences

    func run(_ inputs: [TensorView], budget: Budget, control: RunControl) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(.invalidArgument, "memoryformer takes 1 input ('input_ids' [batch, tokens] int32), got \(inputs.count)")
        }
        let ids = inputs[0]
        try ids.validate(against: model.inputs[0])
        let batch = ids.shape[0], length = ids.shape[1]
        guard batch >= 1, length >= 1 else {
            throw ModelError(.shape, "input_ids must hold at least one sequence of at least one token, got shape \(ids.shape)")
        }
        guard length <= contextLength else {
            throw ModelError(.contextFull, "sequences of \(length) tokens exceed the context of \(contextLength) tokens")
        }
        try checkIDs(ids.int32s)
        let perToken = model.gflops(tokens: length, start: 0) / Double(length)
        try checkBudget(budget, gflopsPerToken: perToken)

        let start = monotonicMicroseconds()
        let c = model.config
        var out = Tensor(zeros: [batch, length, c.vocab])
        arena.reset()
        try reserveScratch(tokens: length, extraFloats: 2 * c.layers * length * c.hidden)
        let kv = arena.floats(2 * c.layers * length * c.hidden)
        let source = ids.int32s.baseAddress!
        try out.values.withUnsafeMutableBufferPointer { (logits) throws(ModelError) in
            for b in 0..<batch {
                try control.checkAbort("before sequence \(b)")
                // Each sequence reuses the same scratch.
                let mark = arena.mark()
                defer { arena.release(to: mark) }
                try forward(source + b * length, count: length, start: 0, cache: kv, capacity: length,
                            logits: logits.baseAddress! + b * length * c.vocab, deferTo: nil, control: control)
            }
        }
        let gflops = model.gflops(tokens: length, start: 0) * Double(batch)
        latency.observe(gflops: gflops, microseconds: monotonicMicroseconds() - start)
        fillReport(control, gflops: gflops, tokens: batch * length)
        return [out]
    }

    // MARK: generation

    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget, control: RunControl) throws(ModelError) {
        guard !ids.isEmpty else { throw ModelError(.invalidArgument, "prefill needs at least one token") }
        guard ids.count <= contextLength else {
            throw ModelError(.contextFull, "the prompt has \(ids.count) tokens but the context holds \(contextLength)")
        }
        try checkIDs(ids)
        try checkBudget(budget, gflopsPerToken: model.gflops(tokens: ids.count, start: 0) / Double(ids.count))
        // The cache is invalid until this prefill completes.
        cachePosition = 0
        logitRows = 0
        deferredRows = 0
        sequenceBudget = budget
        try ensureCache(ids.count)
        try ensureLogits(rows: ids.count)
        try ensureDeferred(rows: ids.count - 1)
        let start = monotonicMicroseconds()
        arena.reset()
        try reserveScratch(tokens: ids.count, extraFloats: 0)
        try forward(ids.baseAddress!, count: ids.count, start: 0, cache: cache!, capacity: cacheCapacity,
                    logits: logitStorage!, deferTo: deferredNormed, control: control)
        cachePosition = ids.count
        logitRows = ids.count
        deferredRows = ids.count - 1
        let gflops = model.gflops(tokens: ids.count, start: 0, headRows: 1)
        latency.observe(gflops: gflops, microseconds: monotonicMicroseconds() - start)
        fillReport(control, gflops: gflops, tokens: ids.count)
    }

    func decode(_ id: Int32, control: RunControl) throws(ModelError) {
        guard cachePosition > 0 else { throw ModelError(.state, "decode needs a prefill first") }
        guard cachePosition < contextLength else {
            throw ModelError(.contextFull, "the context of \(contextLength) tokens is full; start a new prefill")
        }
        guard id >= 0, Int(id) < model.config.vocab else {
            throw ModelError(.invalidArgument, "token id \(id) is outside the vocabulary 0..<\(model.config.vocab)")
        }
        var token = id
        let gflops = model.gflops(tokens: 1, start: cachePosition)
        try checkBudget(sequenceBudget, gflopsPerToken: gflops)
        try ensureCache(cachePosition + 1)
        try ensureLogits(rows: 1)
        let start = monotonicMicroseconds()
        arena.reset()
        try reserveScratch(tokens: 1, extraFloats: 0)
        logitRows = 0
        deferredRows = 0
        try forward(&token, count: 1, start: cachePosition, cache: cache!, capacity: cacheCapacity,
                    logits: logitStorage!, deferTo: nil, control: control)
        cachePosition += 1
        logitRows = 1
        latency.observe(gflops: gflops, microseconds: monotonicMicroseconds() - start)
        fillReport(control, gflops: gflops, tokens: cachePosition)
    }

    // MARK: the network

    /// Runs tokens `ids[0 ..< count]` at positions `start ..< start + count`: their keys (after
    /// rotary) and values go to rows `start...` of each layer's slice of `cache`, whose earlier rows
    /// hold the positions before; their logits go to `logits[count, vocab]` — or, with `deferTo`,
    /// only the last position's, the other positions' final-normed rows going to `deferTo`.
    private func forward(_ ids: UnsafePointer<Int32>, count S: Int, start: Int,
                         cache: UnsafeMutablePointer<Float>, capacity: Int,
                         logits: UnsafeMutablePointer<Float>, deferTo: UnsafeMutablePointer<Float>?,
                         control: RunControl) throws(ModelError) {
        let m = model, c = m.config
        let H = c.hidden, W = c.mlpWidth
        let x = arena.floats(S * H)
        let normed = arena.floats(S * H)
        let q = arena.floats(S * H)
        let context = arena.floats(S * H)
        let middle = arena.floats(S * W)
        let maxTables = max(c.attentionTables, c.mlpTables)
        let codes = arena.ints(S * maxTables)
        let weights = arena.floats(S * maxTables)
        let scale = 1 / Float(c.headDim).squareRoot()
        let threads = self.threads

        try kernel { () throws(KernelError) in
            try Kernels.embedding(ids: ids, count: S, table: m.embedding.baseAddress!, vocabularySize: c.vocab,
                                  dim: H, into: x)
        }
        for (i, layer) in m.layers.enumerated() {
            try control.checkAbort("before layer \(i)")
            let keys = cache + (2 * i) * capacity * H
            let values = keys + capacity * H
            let newKeys = keys + start * H, newValues = values + start * H

            // Attention: one hash of the normed input picks the Q, K and V rows.
            Kernels.rmsNorm(x, rows: S, cols: H, weight: layer.inputNorm.baseAddress, eps: c.rmsEpsilon,
                            epsilon: .addedToRMS, into: normed)
            try kernel { () throws(KernelError) in
                try Kernels.memoryHash(normed, rows: S, ldz: H, tables: c.attentionTables,
                                       codeLength: c.attentionCodeLength, codes: codes, weights: weights)
                try Kernels.memoryGather(codes: codes, weights: weights, rows: S, table: layer.query,
                                         bias: layer.queryBias.baseAddress, into: q, ldy: H, threads: threads)
                try Kernels.memoryGather(codes: codes, weights: weights, rows: S, table: layer.key,
                                         bias: layer.keyBias.baseAddress, into: newKeys, ldy: H, threads: threads)
                try Kernels.memoryGather(codes: codes, weights: weights, rows: S, table: layer.value,
                                         bias: layer.valueBias.baseAddress, into: newValues, ldy: H, threads: threads)
            }
            touched[i].attention.mark(codes: codes, rows: S, tables: c.attentionTables, codeLength: c.attentionCodeLength)
            m.rotary.apply(q, rows: S, ld: H, heads: c.heads, headDim: c.headDim, firstPosition: start)
            m.rotary.apply(newKeys, rows: S, ld: H, heads: c.heads, headDim: c.headDim, firstPosition: start)
            try kernel { () throws(KernelError) in
                try Kernels.attention(q: q, ldq: H, k: keys, ldk: H, v: values, ldv: H, out: context, ldo: H,
                                      seqQ: S, seqK: start + S, heads: c.heads, headDim: c.headDim, scale: scale,
                                      causal: true, queryOffset: start, scratch: arena)
            }
            Kernels.add(x, context, into: x, count: S * H)   // no dense output projection

            // MLP: memory layer → LayerNorm → memory layer with extra bits, on RMSNorm(a).
            Kernels.rmsNorm(x, rows: S, cols: H, weight: layer.postNorm.baseAddress, eps: c.rmsEpsilon,
                            epsilon: .addedToRMS, into: normed)
            try kernel { () throws(KernelError) in
                try Kernels.memoryHash(normed, rows: S, ldz: H, tables: c.mlpTables, codeLength: c.mlpCodeLength,
                                       codes: codes, weights: weights)
                try Kernels.memoryGather(codes: codes, weights: weights, rows: S, table: layer.mlpIn,
                                         bias: layer.mlpInBias.baseAddress, into: middle, ldy: W, threads: threads)
            }
            touched[i].mlpIn.mark(codes: codes, rows: S, tables: c.mlpTables, codeLength: c.mlpCodeLength)
            Kernels.layerNorm(middle, rows: S, cols: W, weight: layer.mlpNormWeight.baseAddress,
                              bias: layer.mlpNormBias.baseAddress, eps: c.layerNormEpsilon, into: middle)
            let outBits = c.mlpCodeLength + c.extraBits
            try kernel { () throws(KernelError) in
                try Kernels.memoryHash(middle, rows: S, ldz: W, tables: c.mlpTables, codeLength: outBits,
                                       codes: codes, weights: weights)
                try Kernels.memoryGather(codes: codes, weights: weights, rows: S, table: layer.mlpOut,
                                         bias: layer.mlpOutBias.baseAddress, into: q, ldy: H, threads: threads)
            }
            touched[i].mlpOut.mark(codes: codes, rows: S, tables: c.mlpTables, codeLength: outBits)
            Kernels.add(x, q, into: x, count: S * H)
        }
        try control.checkAbort("before the LM head")
        Kernels.rmsNorm(x, rows: S, cols: H, weight: m.finalNorm.baseAddress, eps: c.rmsEpsilon,
                        epsilon: .addedToRMS, into: normed)
        if let deferTo {
            deferTo.update(from: normed, count: (S - 1) * H)
            Kernels.linear(normed + (S - 1) * H, rows: 1, inFeatures: H, weight: m.head.baseAddress!, bias: nil,
                           outFeatures: c.vocab, into: logits + (S - 1) * c.vocab)
        } else {
            Kernels.linear(normed, rows: S, inFeatures: H, weight: m.head.baseAddress!, bias: nil,
                           outFeatures: c.vocab, into: logits)
        }
    }

    // MARK: helpers

    private func kernel(_ body: () throws(KernelError) -> Void) throws(ModelError) {
        do {
            try body()
        } catch {
            throw ModelError(.internalError, "memoryformer kernel: \(error)")
        }
    }

    private func checkIDs(_ ids: UnsafeBufferPointer<Int32>) throws(ModelError) {
        let vocab = model.config.vocab
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= vocab {
            throw ModelError(.invalidArgument, "token id \(id) at index \(i) is outside the vocabulary 0..<\(vocab)")
        }
    }

    /// The model has one setting, so a budget can only be met or refused: limits below the cost of a
    /// token throw instead of silently running something else.
    private func checkBudget(_ budget: Budget, gflopsPerToken: Double) throws(ModelError) {
        try budget.validateCommon()
        if budget.loops != nil || budget.trajectory != nil || budget.mergeR != nil || budget.earlyFraction != nil
            || budget.earlyMargin != nil || budget.expectedFrames != nil {
            throw ModelError(.unsupported, "memoryformer has no loops, merging or early exit; its budget takes only a GFLOP or latency limit")
        }
        if let limit = budget.maxGFLOPs, gflopsPerToken > limit {
            throw ModelError(.budget, "a token costs \(gflopsPerToken) GFLOP here, above the limit of \(limit); memoryformer has no cheaper setting")
        }
        if let limit = budget.maxLatencyMs {
            let predicted = latency.predictMicroseconds(gflops: gflopsPerToken) / 1000
            if predicted > limit {
                throw ModelError(.budget, "a token is predicted to take \(predicted) ms here, above the limit of \(limit) ms; memoryformer has no cheaper setting")
            }
        }
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
    }

    private func ensureCache(_ positions: Int) throws(ModelError) {
        guard positions > cacheCapacity else { return }
        let c = model.config
        let capacity = min(c.context, max(positions, 2 * cacheCapacity, 64))
        let (perLayer, o1) = capacity.multipliedReportingOverflow(by: 2 * c.hidden)
        let (total, o2) = perLayer.multipliedReportingOverflow(by: c.layers)
        guard !o1, !o2, let fresh = allocateFloats(total) else {
            throw ModelError(.invalidArgument, "not enough memory for a KV cache of \(capacity) positions")
        }
        if let old = cache {
            for i in 0..<(2 * c.layers) where cachePosition > 0 {
                (fresh + i * capacity * c.hidden).update(from: old + i * cacheCapacity * c.hidden,
                                                         count: cachePosition * c.hidden)
            }
            free(old)
        }
        cache = fresh
        cacheCapacity = capacity
    }

    private func ensureLogits(rows: Int) throws(ModelError) {
        let needed = rows * model.config.vocab
        guard needed > logitCapacity else { return }
        guard let fresh = allocateFloats(needed) else {
            throw ModelError(.invalidArgument, "not enough memory for the logits of \(rows) positions")
        }
        free(logitStorage)
        logitStorage = fresh
        logitCapacity = needed
    }

    private func ensureDeferred(rows: Int) throws(ModelError) {
        let needed = rows * model.config.hidden
        guard needed > deferredCapacity else { return }
        guard let fresh = allocateFloats(needed) else {
            throw ModelError(.invalidArgument, "not enough memory for the final activations of \(rows) positions")
        }
        free(deferredNormed)
        deferredNormed = fresh
        deferredCapacity = needed
    }

    private func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float>? {
        var p: UnsafeMutableRawPointer? = nil
        // posix_memalign rather than allocate(capacity:): a failure must be an error, not a trap.
        guard count > 0, count < Int.max / 8, posix_memalign(&p, 64, count * 4) == 0, let p else { return nil }
        return p.bindMemory(to: Float.self, capacity: count)
    }

    /// `tokens`: positions a whole-sequence run processed, or the tokens now in the KV cache.
    /// `resident_table_bytes` is what this session has read of the tables since it was made: one bit
    /// per table row (set when a hash selects the row), and each set row counted with its stored
    /// size (f32 4·out, f16 2·out, q8 out + 4 bytes; the Q, K and V rows of a shared code count
    /// three times). Rows are what a mapped table pages in; page granularity and read-ahead are not
    /// modelled.
    private func fillReport(_ control: RunControl, gflops: Double, tokens: Int) {
        let m = model, c = m.config
        var perLayer: [Double] = []
        var rows = 0
        for (i, l) in m.layers.enumerated() {
            let t = touched[i]
            let bytes = t.attention.touchedRows * (l.query.bytesPerRow + l.key.bytesPerRow + l.value.bytesPerRow)
                + t.mlpIn.touchedRows * l.mlpIn.bytesPerRow + t.mlpOut.touchedRows * l.mlpOut.bytesPerRow
            rows += 3 * t.attention.touchedRows + t.mlpIn.touchedRows + t.mlpOut.touchedRows
            perLayer.append(Double(bytes))
        }
        let tableBytes = m.layers.reduce(0) { $0 + $1.query.totalBytes + $1.key.totalBytes + $1.value.totalBytes + $1.mlpIn.totalBytes + $1.mlpOut.totalBytes }
        control.report.gflops = gflops
        control.report.layers = c.layers
        control.report.tokensKept = tokens
        control.report.choice = "tables=\(m.tableStorage)"
        control.report.values["resident_table_bytes"] = [perLayer.reduce(0, +)]
        control.report.values["resident_table_bytes_per_layer"] = perLayer
        control.report.values["table_rows_touched"] = [Double(rows)]
        control.report.values["table_bytes"] = [Double(tableBytes)]
    }
}
