import SwiftletKernels

/// A live LMUFormer stream, fed feature frames or 16 kHz PCM (through the model's fbank front end).
///
/// Each push emits the prediction rows (the head of the running mean, `logits_per_step`) of every
/// frame whose look-ahead (5 frames) has arrived; `flush` ends the clip exactly as a whole-clip run
/// does. A PCM stream pads or cuts the clip to the model's `target_frames` with the normalised pad
/// value, as the official data loader does, and ends the clip by itself at that length. An early
/// decision (budget) stops the stream once a fraction of the expected frames has been predicted or
/// the running top-1 − top-2 margin exceeds a threshold. A detecting stream (`startDetection`) also
/// gives the head of each frame alone (`frameScores`) and runs on past `target_frames`: it listens
/// until flushed. Pushes allocate nothing (pushes of more than `LMUFormerStreamer.stepFrames` frames
/// grow the output buffers once).
final class LMUFormerStreamer: FamilyStreamer {
    /// Frames per engine step: small buffers per stream, and GEMMs wide enough for chunked pushes.
    static let stepFrames = 32
    /// PCM samples converted per piece.
    static let pcmPiece = 1024

    let model: LMUFormerModel
    let input: StreamInput
    let engine: LMUFormerEngine
    let context: ExecutionContext
    var frameWidth: Int { model.features }
    var outputWidth: Int { model.classes }

    private var out: UnsafeMutablePointer<Float>
    /// Per-frame logits of the same rows (detecting streams only).
    private var frameOut: UnsafeMutablePointer<Float>?
    private var outCapacity: Int
    private var rowCount = 0
    private var detecting = false

    private var budget = Budget()
    /// The profiled quality of the early decision the budget set, if the model carries a profile.
    private var predictedQuality: Double?
    private var decided = false
    private var decidedRows = 0
    private var microseconds = 0.0

    // PCM streams.
    private let extractor: FbankExtractor?
    private let normalization: FbankNormalization
    private let pcmFeatures: UnsafeMutablePointer<Float>
    private var featuresFed = 0

    init(model: LMUFormerModel, input: StreamInput, context: ExecutionContext) throws(ModelError) {
        self.context = context
        self.model = model
        self.input = input
        engine = LMUFormerEngine(model: model, cap: Self.stepFrames, streaming: true, pool: context.pool)
        outCapacity = engine.rowCap
        out = .allocate(capacity: outCapacity * model.classes)
        if input == .pcm, let audio = model.audio {
            do {
                extractor = try FbankExtractor(options: audio.options)
            } catch {
                out.deallocate()
                throw ModelError(.format, "the model's audio front end cannot be built: \(error)")
            }
            normalization = audio.normalization
        } else {
            extractor = nil
            normalization = .speechCommands
        }
        let piecesFrames = max(Self.pcmPiece / max(extractor?.frameShift ?? 1, 1) + 1, Self.stepFrames)
        pcmFeatures = .allocate(capacity: piecesFrames * model.features)
    }

    deinit {
        out.deallocate()
        frameOut?.deallocate()
        pcmFeatures.deallocate()
    }

    var outputRows: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: out, count: rowCount * model.classes)
    }

    var frameScores: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: frameOut ?? out, count: rowCount * model.classes)
    }

    func startDetection() {
        guard !detecting else { return }
        detecting = true
        frameOut = .allocate(capacity: outCapacity * model.classes)
    }

    /// The clip length a PCM stream pads or cuts to; 0 (none) for a detecting stream.
    private var targetFrames: Int { detecting ? 0 : normalization.targetFrames }

    // MARK: - Pushing

    func push(_ frames: UnsafeBufferPointer<Float>) throws(ModelError) -> Int {
        guard input == .frames else {
            throw ModelError(
                .invalidArgument, "this stream takes PCM samples (it was made with PCM input); push them with pushPCM")
        }
        let f = model.features
        guard frames.count % f == 0 else {
            throw ModelError(.shape, "pushed \(frames.count) floats, not a whole number of \(f)-float frames")
        }
        for (i, v) in frames.enumerated() where !v.isFinite {
            throw ModelError(.numeric, "pushed frame \(i / f) holds \(v) at feature \(i % f); frames must be finite")
        }
        guard !engine.finished else {
            throw ModelError(.state, "this stream was flushed; reset it to start a new clip")
        }
        rowCount = 0
        guard !decided, let base = frames.baseAddress else { return 0 }
        let n = frames.count / f
        reserve(rows: n + LMUFormerModel.latencyFrames)
        let start = monotonicMicroseconds()
        defer { microseconds += monotonicMicroseconds() - start }
        var i = 0
        while i < n && !decided {
            let k = min(engine.cap, n - i)
            try step(base + i * f, count: k, final: false)
            i += k
        }
        return rowCount
    }

    func pushPCM(_ samples: UnsafeBufferPointer<Int16>) throws(ModelError) -> Int {
        guard input == .pcm, let extractor else {
            throw ModelError(
                .unsupported, "this stream takes feature frames; make the stream with PCM input to push audio")
        }
        rowCount = 0
        // A PCM clip ends by itself at the target length: later samples are ignored.
        guard !decided, !engine.finished, let base = samples.baseAddress else { return 0 }
        let target = targetFrames
        reserve(rows: extractor.framesReady(afterPushing: samples.count) + LMUFormerModel.latencyFrames + 1)
        let start = monotonicMicroseconds()
        defer { microseconds += monotonicMicroseconds() - start }
        let f = model.features
        var i = 0
        while i < samples.count && !decided && !engine.finished {
            let n = min(Self.pcmPiece, samples.count - i)
            let made: Int
            do {
                made = try extractor.push(
                    pcm: UnsafeBufferPointer(start: base + i, count: n),
                    into: UnsafeMutableBufferPointer(start: pcmFeatures, count: (n / extractor.frameShift + 1) * f))
            } catch {
                throw ModelError(.internalError, "the audio front end failed: \(error)")
            }
            i += n
            let use = target > 0 ? min(made, target - featuresFed) : made
            guard use > 0 else { continue }
            normalization.normalize(pcmFeatures, count: use * f)
            // A piece makes up to pcmPiece / frameShift + 1 frames; the engine takes `cap` per step. Each
            // step's frames are counted once the engine has them (an abort leaves the count exact).
            var j = 0
            while j < use && !decided {
                let k = min(engine.cap, use - j)
                try step(pcmFeatures + j * f, count: k, final: false)
                featuresFed += k
                j += k
            }
            if target > 0 && featuresFed == target && !decided {
                try step(nil, count: 0, final: true)
            }
        }
        return rowCount
    }

    func flush() throws(ModelError) -> Int {
        rowCount = 0
        guard !decided, !engine.finished else { return 0 }
        let start = monotonicMicroseconds()
        defer { microseconds += monotonicMicroseconds() - start }
        let target = targetFrames
        if input == .pcm && target > 0 && featuresFed > 0 && featuresFed < target {
            // Short clip: pad rows are the normalised zero, fed like any frame.
            let pad = target - featuresFed
            reserve(rows: pad + LMUFormerModel.latencyFrames)
            pcmFeatures.update(repeating: normalization.padValue, count: engine.cap * model.features)
            var left = pad
            while left > 0 && !decided {
                let k = min(engine.cap, left)
                try step(pcmFeatures, count: k, final: false)
                featuresFed += k
                left -= k
            }
            if decided { return rowCount }
        }
        reserve(rows: LMUFormerModel.latencyFrames + 1)
        try step(nil, count: 0, final: true)
        return rowCount
    }

    /// One engine step; its rows go after the rows already produced by this call.
    private func step(_ frames: UnsafePointer<Float>?, count: Int, final: Bool) throws(ModelError) {
        try context.checkAbort("before frame \(engine.framesIn)")
        let first = rowCount
        let made = try engine.process(
            frames, count: count, final: final, into: out + rowCount * model.classes,
            frameScores: frameOut.map { $0 + rowCount * model.classes }, context: nil)
        rowCount += made
        context.report.framesUsed = engine.rowsOut
        context.report.gflops = engine.flops * 1e-9
        guard budget.earlyFraction != nil || budget.earlyMargin != nil else { return }
        // Global index (1-based) of this call's row `first`.
        let base = engine.rowsOut - made + 1
        for r in first..<rowCount where isDecision(row: r, framesSoFar: base + r - first) {
            decided = true
            decidedRows = base + r - first
            rowCount = r + 1
            context.report.decided = true
            context.report.completed = false
            return
        }
    }

    private func isDecision(row r: Int, framesSoFar: Int) -> Bool {
        if let fraction = budget.earlyFraction {
            let expected = budget.expectedFrames ?? targetFrames
            if Double(framesSoFar) >= (fraction * Double(expected)).rounded(.up) { return true }
        }
        if let margin = budget.earlyMargin, model.classes >= 2 {
            let row = out + r * model.classes
            var best = -Float.infinity
            var second = -Float.infinity
            for j in 0..<model.classes {
                let v = row[j]
                if v > best {
                    second = best
                    best = v
                } else if v > second {
                    second = v
                }
            }
            if Double(best - second) > margin { return true }
        }
        return false
    }

    private func reserve(rows: Int) {
        guard rows > outCapacity else { return }
        out.deallocate()
        outCapacity = max(rows, 2 * outCapacity)
        out = .allocate(capacity: outCapacity * model.classes)
        if let old = frameOut {
            old.deallocate()
            frameOut = .allocate(capacity: outCapacity * model.classes)
        }
    }

    // MARK: - Control

    func reset() {
        engine.reset()
        extractor?.reset()
        featuresFed = 0
        decided = false
        decidedRows = 0
        rowCount = 0
        microseconds = 0
    }

    func setBudget(_ budget: Budget) throws(ModelError) {
        try budget.validate(for: model, stream: true)
        var budget = budget
        predictedQuality = nil
        if let floor = budget.minQuality, budget.earlyFraction == nil {
            // Decide as early as the profile says the quality allows.
            guard let profile = model.profile else {
                throw ModelError(
                    .unsupported,
                    "min_quality needs a model that carries a quality profile; measure one with `swiftlet profile`")
            }
            guard
                let pick = profile.filter({ $0.entry.quality >= floor - 1e-12 }).min(by: { $0.fraction < $1.fraction })
            else {
                throw ModelError(
                    .budget, "no profiled early decision keeps \(formatted(floor * 100, 1)) % of full quality")
            }
            budget.earlyFraction = pick.fraction < 1 ? pick.fraction : nil
            predictedQuality = pick.entry.quality
        } else if let f = budget.earlyFraction {
            predictedQuality = model.profile?.first { abs($0.fraction - f) < 1e-9 }?.entry.quality
        }
        if budget.earlyFraction != nil && budget.expectedFrames == nil
            && !(input == .pcm && targetFrames > 0)
        {
            throw ModelError(.budget, "an early fraction needs the expected number of frames of the clip")
        }
        if let limit = budget.maxGFLOPs, model.gflopsPerFrame > limit {
            throw ModelError(
                .budget,
                "a frame costs \(model.gflopsPerFrame) GFLOP, above the limit of \(limit); lmuformer has no cheaper setting"
            )
        }
        self.budget = budget
    }

    var report: RunReport {
        var r = RunReport()
        r.predictedQuality = predictedQuality
        r.decided = decided
        r.completed = !decided
        r.framesUsed = decided ? decidedRows : engine.rowsOut
        r.layers = model.depth
        r.gflops = engine.flops * 1e-9
        r.microseconds = microseconds
        if decided {
            r.choice = "decided after \(decidedRows) frames"
        } else if input == .pcm && engine.finished && targetFrames > 0 {
            r.choice = "clip of \(featuresFed) frames"
        } else {
            r.choice = "all frames"
        }
        if !model.lifLayers.isEmpty { r.values["spike_rate"] = engine.spikeRates() }
        r.values["u_active_fraction"] = engine.uActiveFractions()
        r.values["frames_in"] = [Double(engine.framesIn)]
        return r
    }

    // MARK: - State

    // The checksum catches damage, not a deliberate edit (anyone can recompute it): a state that
    // passes it is also checked field by field against what a stream of this model can reach, and
    // bound to the model's weights by their fingerprint.
    private static let magic: UInt32 = 0x534D_554C // "LUMS"
    private static let version: UInt32 = 3
    private var headerBytes: Int { 4 * 4 + 6 * 4 + 8 + 4 + 8 + 8 }

    var stateSize: Int {
        headerBytes + engine.stateByteCount + (extractor?.stateByteCount ?? 0) + 8
    }

    func saveState(into buffer: UnsafeMutableRawBufferPointer) throws(ModelError) {
        let size = stateSize
        guard buffer.count >= size else {
            throw ModelError(.invalidArgument, "the state needs \(size) bytes, the buffer has \(buffer.count)")
        }
        var w = LMUStateWriter(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]))
        w.put(Self.magic)
        w.put(Self.version)
        w.put(model.variant.code)
        w.put(UInt32(input == .pcm ? 1 : 0))
        for v in [model.features, model.dim, model.depth, model.hidden, model.memory, model.classes] {
            w.put(UInt32(v))
        }
        w.put(model.fingerprint)
        w.put(UInt32(decided ? 1 : 0))
        w.put(UInt64(decidedRows))
        w.put(UInt64(featuresFed))
        engine.save(&w)
        if let extractor {
            let n = extractor.stateByteCount
            do {
                try extractor.saveState(
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[w.offset..<(w.offset + n)]))
            } catch {
                throw ModelError(.internalError, "saving the audio front end failed: \(error)")
            }
            w.advance(by: n)
        }
        let sum = lmuStateChecksum(UnsafeRawBufferPointer(rebasing: buffer[0..<w.offset]))
        w.put(sum)
    }

    /// Restores a saved state. A state from another model, input kind or build is refused; a state
    /// that fails its checks leaves the stream reset.
    func loadState(from buffer: UnsafeRawBufferPointer) throws(ModelError) {
        let size = stateSize
        guard buffer.count == size else {
            throw ModelError(.invalidArgument, "a saved state of this stream has \(size) bytes, got \(buffer.count)")
        }
        let stored = buffer.loadUnaligned(fromByteOffset: size - 8, as: UInt64.self)
        guard UInt64(littleEndian: stored) == lmuStateChecksum(UnsafeRawBufferPointer(rebasing: buffer[0..<(size - 8)]))
        else {
            throw ModelError(.invalidArgument, "the saved state is damaged (checksum mismatch)")
        }
        var r = LMUStateReader(buffer)
        guard try r.get(UInt32.self) == Self.magic else {
            throw ModelError(.invalidArgument, "these bytes are not a saved lmuformer stream state")
        }
        let version = try r.get(UInt32.self)
        guard version == Self.version else {
            throw ModelError(
                .invalidArgument, "the saved state has version \(version); this build reads version \(Self.version)")
        }
        let variant = try r.get(UInt32.self)
        let kind = try r.get(UInt32.self)
        var dims: [Int] = []
        for _ in 0..<6 { dims.append(Int(try r.get(UInt32.self))) }
        guard variant == model.variant.code, kind == (input == .pcm ? 1 : 0),
            dims == [model.features, model.dim, model.depth, model.hidden, model.memory, model.classes]
        else {
            throw ModelError(.invalidArgument, "the saved state is from a stream of another model or input kind")
        }
        guard try r.get(UInt64.self) == model.fingerprint else {
            throw ModelError(
                .invalidArgument, "the saved state is from a stream of another model (same shapes, other weights)")
        }
        let flag = try r.get(UInt32.self)
        let rowsAtDecision = try r.count(max: 1 << 53)
        let fed = try r.count(max: 1 << 53)
        guard flag <= 1 else { throw ModelError(.invalidArgument, "the saved stream state is damaged") }
        do throws(ModelError) {
            try engine.load(&r)
            // A decision names a row already produced; a PCM stream has fed the engine every frame
            // it made (a frames stream feeds none through the front end).
            let decision = flag == 1 ? rowsAtDecision >= 1 && rowsAtDecision <= engine.rowsOut : rowsAtDecision == 0
            guard decision,
                fed == (input == .pcm ? engine.framesIn : 0)
            else {
                throw ModelError(
                    .invalidArgument,
                    "the saved stream state is inconsistent (decision at row \(rowsAtDecision) of \(engine.rowsOut), \(fed) features fed for \(engine.framesIn) frames)"
                )
            }
            if let extractor {
                let n = extractor.stateByteCount
                do {
                    try extractor.loadState(from: UnsafeRawBufferPointer(rebasing: buffer[r.offset..<(r.offset + n)]))
                } catch {
                    throw ModelError(.invalidArgument, "the saved audio front end state is damaged: \(error)")
                }
            }
        } catch {
            reset()
            throw error
        }
        decided = flag == 1
        decidedRows = rowsAtDecision
        featuresFed = fed
        rowCount = 0
    }
}
