/// Session state of the test model: whole-input runs and a cached toy language model.
final class TestRunner: FamilyRunner {
    let model: TestModel
    var latency = LatencyModel(microsecondsPerGFLOP: 1_000, fixedMicroseconds: 5)
    var tmp: [Float]
    var h: [Float]
    // Language-model state: the running sum of embeddings is this toy model's "KV cache".
    var cacheSum: [Float]
    var cachePosition = 0
    var cacheLoops = 0
    var logitBuffer: [Float] = []
    var logitRows = 0

    init(model: TestModel) {
        self.model = model
        tmp = [Float](repeating: 0, count: model.width)
        h = [Float](repeating: 0, count: model.width)
        cacheSum = [Float](repeating: 0, count: model.width)
    }

    func run(_ inputs: [TensorView], budget: Budget, control: RunControl) throws(ModelError) -> [Tensor] {
        guard inputs.count == 1 else {
            throw ModelError(.invalidArgument, "the test model takes 1 input ('x'), got \(inputs.count)")
        }
        let x = inputs[0]
        try x.validate(against: model.inputs[0])
        let rows = x.shape[0]
        let loops = try model.chooseLoops(budget, rows: rows, latency: latency)
        let start = monotonicMicroseconds()
        var out = Tensor(zeros: [rows, model.classes])
        let src = x.floats
        try h.withUnsafeMutableBufferPointer { (h) throws(ModelError) in
            try tmp.withUnsafeMutableBufferPointer { (tmp) throws(ModelError) in
                for r in 0..<rows {
                    for i in 0..<model.width { h[i] = src[r * model.width + i] }
                    try model.blocks(h.baseAddress!, loops: loops, tmp: tmp.baseAddress!, control: control)
                    out.values.withUnsafeMutableBufferPointer {
                        model.affine(h.baseAddress!, model.headWeight, model.headBias, rows: model.classes,
                                     into: $0.baseAddress! + r * model.classes)
                    }
                }
            }
        }
        let gflops = model.gflopsPerRow(loops: loops) * Double(rows)
        control.report.loops = loops
        control.report.gflops = gflops
        control.report.choice = "loops=\(loops)"
        control.report.values["layers_used"] = [Double(loops)]
        latency.observe(gflops: gflops, microseconds: monotonicMicroseconds() - start)
        return [out]
    }

    var contextLength: Int { model.context }
    var position: Int { cachePosition }
    var vocabSize: Int { model.vocab }
    var logits: UnsafeBufferPointer<Float> {
        logitBuffer.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: logitRows * model.vocab) }
    }

    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget, control: RunControl) throws(ModelError) {
        guard !ids.isEmpty else { throw ModelError(.invalidArgument, "prefill needs at least one token") }
        guard ids.count <= model.context else {
            throw ModelError(.contextFull, "the prompt has \(ids.count) tokens but the context holds \(model.context)")
        }
        let loops = try model.chooseLoops(budget, rows: 1, latency: latency)
        for id in ids where id < 0 || Int(id) >= model.vocab {
            throw ModelError(.invalidArgument, "token id \(id) is outside the vocabulary 0..<\(model.vocab)")
        }
        cacheSum = [Float](repeating: 0, count: model.width)
        cachePosition = 0
        cacheLoops = loops
        logitBuffer = [Float](repeating: 0, count: ids.count * model.vocab)
        logitRows = ids.count
        for (row, id) in ids.enumerated() {
            try step(id, row: row, control: control)
        }
        control.report.loops = loops
        control.report.choice = "loops=\(loops)"
        control.report.gflops = model.gflopsPerRow(loops: loops) * Double(ids.count)
    }

    func decode(_ id: Int32, control: RunControl) throws(ModelError) {
        guard cachePosition > 0 else { throw ModelError(.state, "decode needs a prefill first") }
        guard cachePosition < model.context else {
            throw ModelError(.contextFull, "the context of \(model.context) tokens is full; start a new prefill")
        }
        guard id >= 0, Int(id) < model.vocab else {
            throw ModelError(.invalidArgument, "token id \(id) is outside the vocabulary 0..<\(model.vocab)")
        }
        if logitBuffer.count != model.vocab { logitBuffer = [Float](repeating: 0, count: model.vocab) }
        logitRows = 1
        try step(id, row: 0, control: control)
        control.report.loops = cacheLoops
        control.report.choice = "loops=\(cacheLoops)"
        control.report.gflops = model.gflopsPerRow(loops: cacheLoops)
    }

    /// One position: h = e(id) + 0.5 · mean of the embeddings so far, then the blocks and the LM head.
    private func step(_ id: Int32, row: Int, control: RunControl) throws(ModelError) {
        let w = model.width
        let e = Int(id) * w
        for i in 0..<w { cacheSum[i] += model.embed[e + i] }
        cachePosition += 1
        for i in 0..<w { h[i] = model.embed[e + i] + 0.5 * cacheSum[i] / Float(cachePosition) }
        try h.withUnsafeMutableBufferPointer { (h) throws(ModelError) in
            try tmp.withUnsafeMutableBufferPointer { (tmp) throws(ModelError) in
                try model.blocks(h.baseAddress!, loops: cacheLoops, tmp: tmp.baseAddress!, control: control)
            }
            logitBuffer.withUnsafeMutableBufferPointer {
                model.affine(h.baseAddress!, model.lmHead, nil, rows: model.vocab, into: $0.baseAddress! + row * model.vocab)
            }
        }
    }
}
