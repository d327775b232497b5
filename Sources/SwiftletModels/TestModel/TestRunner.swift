/// Session state of the test model: whole-input runs and a cached toy language model.
final class TestRunner: FamilyRunner {
    let model: TestModel
    let context: ExecutionContext
    let lm: LanguageModelState
    var latency = LatencyModel(microsecondsPerGFLOP: 1_000, fixedMicroseconds: 5)
    var tmp: [Float]
    var h: [Float]
    // Language-model state: the running sum of embeddings is this toy model's "KV cache".
    var cacheSum: [Float]
    var cacheLoops = 0

    init(model: TestModel, context: ExecutionContext) {
        self.model = model
        self.context = context
        lm = LanguageModelState(vocab: model.vocab, contextLength: model.context, width: 0)
        tmp = [Float](repeating: 0, count: model.width)
        h = [Float](repeating: 0, count: model.width)
        cacheSum = [Float](repeating: 0, count: model.width)
    }

    func run(_ inputs: [TensorView], budget: Budget) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(.invalidArgument, "the test model takes 1 input ('x'), got \(inputs.count)")
        }
        let x = inputs[0]
        try x.validate(against: model.inputs[0])
        let rows = x.shape[0]
        let loops = try model.chooseLoops(budget, rows: rows, latency: latency)
        let start = context.clock()
        var out = Tensor(zeros: [rows, model.classes])
        let src = x.floats
        try h.withUnsafeMutableBufferPointer { (h) throws(ModelError) in
            try tmp.withUnsafeMutableBufferPointer { (tmp) throws(ModelError) in
                for r in 0..<rows {
                    for i in 0..<model.width { h[i] = src[r * model.width + i] }
                    try model.blocks(h.baseAddress!, loops: loops, tmp: tmp.baseAddress!, context: context)
                    out.values.withUnsafeMutableBufferPointer {
                        model.affine(
                            h.baseAddress!, model.headWeight, model.headBias, rows: model.classes,
                            into: $0.baseAddress! + r * model.classes)
                    }
                }
            }
        }
        let gflops = model.gflopsPerRow(loops: loops) * Double(rows)
        context.report.loops = loops
        context.report.gflops = gflops
        context.report.choice = "loops=\(loops)"
        context.report.values["layers_used"] = [Double(loops)]
        latency.observe(gflops: gflops, microseconds: context.clock() - start)
        return [out]
    }

    var languageModel: LanguageModelState? { lm }

    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget) throws(ModelError) {
        let (logits, _) = try lm.startPrefill(ids)
        let loops = try model.chooseLoops(budget, rows: 1, latency: latency)
        cacheSum = [Float](repeating: 0, count: model.width)
        cacheLoops = loops
        for (row, id) in ids.enumerated() {
            try step(id, position: row, into: logits + row * model.vocab)
        }
        lm.finishPrefill(count: ids.count)
        context.report.loops = loops
        context.report.choice = "loops=\(loops)"
        context.report.gflops = model.gflopsPerRow(loops: loops) * Double(ids.count)
    }

    func decode(_ id: Int32) throws(ModelError) {
        let logits = try lm.startDecode(id)
        try step(id, position: lm.position, into: logits)
        lm.finishDecode()
        context.report.loops = cacheLoops
        context.report.choice = "loops=\(cacheLoops)"
        context.report.gflops = model.gflopsPerRow(loops: cacheLoops)
    }

    /// One position: h = e(id) + 0.5 · mean of the embeddings so far, then the blocks and the LM head.
    private func step(_ id: Int32, position: Int, into logits: UnsafeMutablePointer<Float>) throws(ModelError) {
        let w = model.width
        let e = Int(id) * w
        for i in 0..<w { cacheSum[i] += model.embed[e + i] }
        for i in 0..<w { h[i] = model.embed[e + i] + 0.5 * cacheSum[i] / Float(position + 1) }
        try h.withUnsafeMutableBufferPointer { (h) throws(ModelError) in
            try tmp.withUnsafeMutableBufferPointer { (tmp) throws(ModelError) in
                try model.blocks(h.baseAddress!, loops: cacheLoops, tmp: tmp.baseAddress!, context: context)
            }
            model.affine(h.baseAddress!, model.lmHead, nil, rows: model.vocab, into: logits)
        }
    }
}
