import SwiftletFormat

/// The built-in test family: a tiny residual MLP that exercises every part of the public surface —
/// whole-input runs with a layer-count budget, a stream with one frame of look-ahead and an early
/// decision, and a cached language model. Its file is made by `TestModel.fileBytes()`; integrations
/// and the C ABI tests use it to check plumbing without a real checkpoint.
public final class TestModel: FamilyModel, @unchecked Sendable {
    public static let familyName = TestSchema.family
    public var family: String { Self.familyName }

    let layers: Int
    let width: Int
    let classes: Int
    let vocab: Int
    let context: Int
    let weights: [UnsafeBufferPointer<Float>] // per layer [width, width]
    let biases: [UnsafeBufferPointer<Float>] // per layer [width]
    let headWeight: UnsafeBufferPointer<Float> // [classes, width]
    let headBias: UnsafeBufferPointer<Float> // [classes]
    let embed: UnsafeBufferPointer<Float> // [vocab, width]
    let lmHead: UnsafeBufferPointer<Float> // [vocab, width]
    let file: SWLFile // keeps the mapped weights alive
    /// Identity of the weights, the seed of saved stream states' checksum.
    let fingerprint: UInt64
    // The buffers point into `file`, which is immutable and lives as long as the model: sharing them
    // between threads is safe, hence @unchecked Sendable.

    public init(file: SWLFile) throws(ModelError) {
        let w = Weights(file)
        self.file = file
        typealias S = TestSchema
        typealias K = TestSchema.Key
        fingerprint = w.fingerprint
        // Every numeric key range-checked before any arithmetic uses it.
        layers = try w.int(K.layers, in: 1...64)
        width = try w.int(K.width, in: 1...64)
        classes = try w.int(K.classes, in: 2...64)
        vocab = try w.int(K.vocab, in: 2...64)
        context = try w.int(K.context, in: 1...4096)
        var ws: [UnsafeBufferPointer<Float>] = []
        var bs: [UnsafeBufferPointer<Float>] = []
        for i in 0..<layers {
            ws.append(try w.floats(S.layerWeight(i), shape: [width, width]))
            bs.append(try w.floats(S.layerBias(i), shape: [width]))
        }
        weights = ws
        biases = bs
        headWeight = try w.floats(S.headWeight, shape: [classes, width])
        headBias = try w.floats(S.headBias, shape: [classes])
        embed = try w.floats(S.embedding, shape: [vocab, width])
        lmHead = try w.floats(S.lmHead, shape: [vocab, width])
    }

    public var classCount: Int? { classes }
    public var inputs: [TensorInfo] { [TensorInfo(name: "x", dtype: .f32, shape: [-1, width])] }
    public var outputs: [TensorInfo] { [TensorInfo(name: "y", dtype: .f32, shape: [-1, classes])] }

    public var sessionKnobs: Set<BudgetKnob> { [.maxLatencyMs, .maxGFLOPs, .loops, .generationTokens] }
    public var streamKnobs: Set<BudgetKnob> {
        [.maxLatencyMs, .maxGFLOPs, .earlyFraction, .earlyMargin, .expectedFrames]
    }

    public func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner {
        TestRunner(model: self, context: context)
    }

    public func makeStreamer(input: StreamInput, context: ExecutionContext) throws(ModelError) -> any FamilyStreamer {
        guard input == .frames else {
            throw ModelError(
                .unsupported, "the test model has no audio front end; stream feature frames instead of PCM")
        }
        return TestStreamer(model: self, context: context)
    }

    // MARK: shared arithmetic

    /// GFLOP of one row through `loops` blocks and the head.
    func gflopsPerRow(loops: Int) -> Double {
        let perBlock = 2 * width * width + 2 * width
        let head = 2 * classes * width
        return Double(loops * perBlock + head) * 1e-9
    }

    /// h ← h + relu(W h + b), `loops` times; `tmp` has `width` floats.
    func blocks(
        _ h: UnsafeMutablePointer<Float>, loops: Int, tmp: UnsafeMutablePointer<Float>,
        context: ExecutionContext
    ) throws(ModelError) {
        for l in 0..<loops {
            try context.checkAbort("before block \(l)")
            for o in 0..<width {
                var s = biases[l][o]
                for i in 0..<width { s += weights[l][o * width + i] * h[i] }
                tmp[o] = max(0, s)
            }
            for o in 0..<width { h[o] += tmp[o] }
            context.report.layers += 1
        }
    }

    func affine(
        _ h: UnsafePointer<Float>, _ w: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>?,
        rows: Int, into out: UnsafeMutablePointer<Float>
    ) {
        for o in 0..<rows {
            var s = b?[o] ?? 0
            for i in 0..<width { s += w[o * width + i] * h[i] }
            out[o] = s
        }
    }

    /// Picks the number of blocks from the budget: explicit loops, else the most that fit the limits.
    func chooseLoops(_ budget: Budget, rows: Int, latency: LatencyModel) throws(ModelError) -> Int {
        try budget.validate(for: self, stream: false)
        if let loops = budget.loops {
            guard loops <= layers else {
                throw ModelError(.budget, "loops must be between 1 and \(layers) for this model, got \(loops)")
            }
            return loops
        }
        var best = layers
        while best >= 1 {
            let g = gflopsPerRow(loops: best) * Double(rows)
            let fitsFlops = budget.maxGFLOPs.map { g <= $0 } ?? true
            let fitsTime = budget.maxLatencyMs.map { latency.predictMicroseconds(gflops: g) <= $0 * 1000 } ?? true
            if fitsFlops && fitsTime { return best }
            best -= 1
        }
        throw ModelError(
            .budget,
            "the budget is below the cheapest setting (1 block, \(gflopsPerRow(loops: 1) * Double(rows)) GFLOP)")
    }
}
