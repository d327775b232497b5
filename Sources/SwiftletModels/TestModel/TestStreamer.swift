import SwiftletFormat

/// Stream state of the test model. Row t is the running mean of head(blocks((x_t + x_{t+1}) / 2)),
/// so each frame needs one frame of look-ahead and flush supplies a zero frame — the same contract as
/// a real model whose convolutions look ahead.
final class TestStreamer: FamilyStreamer {
    let model: TestModel
    var frameWidth: Int { model.width }
    var outputWidth: Int { model.classes }

    // State (what saveState writes): the held-back frame, the running sum of outputs and counts.
    var pending: [Float]
    var hasPending = false
    var sum: [Float]
    var emitted = 0
    var decided = false
    var cumulative = RunReport()

    var budget = Budget()
    var rows: [Float] = []
    /// Per-frame head outputs of the same rows (word detection).
    var frames: [Float] = []
    var rowCount = 0
    var h: [Float]
    var tmp: [Float]
    var y: [Float]

    let context: ExecutionContext

    init(model: TestModel, context: ExecutionContext) {
        self.model = model
        self.context = context
        pending = [Float](repeating: 0, count: model.width)
        sum = [Float](repeating: 0, count: model.classes)
        h = [Float](repeating: 0, count: model.width)
        tmp = [Float](repeating: 0, count: model.width)
        y = [Float](repeating: 0, count: model.classes)
    }

    var outputRows: UnsafeBufferPointer<Float> {
        rows.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: rowCount * model.classes) }
    }

    var frameScores: UnsafeBufferPointer<Float> {
        frames.withUnsafeBufferPointer { UnsafeBufferPointer(start: $0.baseAddress, count: rowCount * model.classes) }
    }

    var report: RunReport {
        var r = cumulative
        r.framesUsed = emitted
        r.decided = decided
        r.completed = !decided
        r.choice = decided ? "decided after \(emitted) frames" : "all frames"
        r.values["rows_emitted"] = [Double(emitted)]
        return r
    }

    func setBudget(_ budget: Budget) throws(ModelError) {
        try budget.validate(for: model, stream: true)
        if budget.earlyFraction != nil && budget.expectedFrames == nil {
            throw ModelError(.budget, "an early fraction needs the expected number of frames")
        }
        self.budget = budget
    }

    func reset() {
        for i in pending.indices { pending[i] = 0 }
        for i in sum.indices { sum[i] = 0 }
        hasPending = false
        emitted = 0
        decided = false
        cumulative = RunReport()
        rowCount = 0
    }

    func push(_ frames: UnsafeBufferPointer<Float>) throws(ModelError) -> Int {
        let w = model.width
        guard frames.count % w == 0 else {
            throw ModelError(.shape, "pushed \(frames.count) floats, not a whole number of \(w)-float frames")
        }
        for v in frames where !v.isFinite {
            throw ModelError(.numeric, "a pushed frame holds \(v); frames must be finite")
        }
        let n = frames.count / w
        reserveRows(n)
        rowCount = 0
        let start = context.clock()
        for f in 0..<n {
            if decided { break }
            try context.checkAbort("at frame \(emitted)")
            let frame = UnsafeBufferPointer(rebasing: frames[(f * w)..<((f + 1) * w)])
            if hasPending { try emit(next: frame) }
            for i in 0..<w { pending[i] = frame[i] }
            hasPending = true
        }
        cumulative.microseconds += context.clock() - start
        return rowCount
    }

    func flush() throws(ModelError) -> Int {
        reserveRows(1)
        rowCount = 0
        if hasPending && !decided {
            try emit(next: nil)
            hasPending = false
        }
        return rowCount
    }

    private func reserveRows(_ n: Int) {
        if rows.count < n * model.classes {
            rows = [Float](repeating: 0, count: n * model.classes)
            frames = rows
        }
    }

    /// Emits the row of the pending frame, with `next` (nil = a zero frame) as its look-ahead.
    private func emit(next: UnsafeBufferPointer<Float>?) throws(ModelError) {
        let w = model.width
        let c = model.classes
        for i in 0..<w { h[i] = 0.5 * (pending[i] + (next?[i] ?? 0)) }
        let loops = model.layers
        try h.withUnsafeMutableBufferPointer { (h) throws(ModelError) in
            try tmp.withUnsafeMutableBufferPointer { (tmp) throws(ModelError) in
                try model.blocks(h.baseAddress!, loops: loops, tmp: tmp.baseAddress!, context: context)
            }
            y.withUnsafeMutableBufferPointer {
                model.affine(h.baseAddress!, model.headWeight, model.headBias, rows: c, into: $0.baseAddress!)
            }
        }
        emitted += 1
        cumulative.gflops += model.gflopsPerRow(loops: loops)
        for i in 0..<c {
            sum[i] += y[i]
            rows[rowCount * c + i] = sum[i] / Float(emitted)
            frames[rowCount * c + i] = y[i]
        }
        rowCount += 1
        if let fraction = budget.earlyFraction, let expected = budget.expectedFrames,
            Double(emitted) >= fraction * Double(expected)
        {
            decided = true
        }
        if let margin = budget.earlyMargin, c >= 2 {
            var best = -Float.infinity
            var second = -Float.infinity
            for i in 0..<c {
                let v = sum[i] / Float(emitted)
                if v > best {
                    second = best
                    best = v
                } else if v > second {
                    second = v
                }
            }
            if Double(best - second) > margin { decided = true }
        }
    }

    // State layout: magic "TSTS", u32 width, u32 classes, u32 flags (bit0 pending, bit1 decided),
    // u64 emitted, pending[width] f32, sum[classes] f32, then u64 XXH64 of all that seeded with the
    // model's fingerprint: a damaged state, or one of another test model, is refused.
    private static let magic: UInt32 = 0x5354_5354

    var stateSize: Int { 4 * 4 + 8 + 4 * (model.width + model.classes) + 8 }

    func saveState(into buffer: UnsafeMutableRawBufferPointer) throws(ModelError) {
        guard buffer.count >= stateSize else {
            throw ModelError(.invalidArgument, "the state needs \(stateSize) bytes, the buffer has \(buffer.count)")
        }
        var o = 0
        func put<T>(_ v: T) {
            buffer.storeBytes(of: v, toByteOffset: o, as: T.self)
            o += MemoryLayout<T>.size
        }
        put(Self.magic)
        put(UInt32(model.width))
        put(UInt32(model.classes))
        put(UInt32((hasPending ? 1 : 0) | (decided ? 2 : 0)))
        put(UInt64(emitted))
        for v in pending { put(v) }
        for v in sum { put(v) }
        put(xxh64(UnsafeRawBufferPointer(rebasing: buffer[0..<o]), seed: model.fingerprint).littleEndian)
    }

    func loadState(from buffer: UnsafeRawBufferPointer) throws(ModelError) {
        guard buffer.count == stateSize else {
            throw ModelError(
                .invalidArgument, "a saved state of this model has \(stateSize) bytes, got \(buffer.count)")
        }
        let body = stateSize - 8
        let stored = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: body, as: UInt64.self))
        guard stored == xxh64(UnsafeRawBufferPointer(rebasing: buffer[0..<body]), seed: model.fingerprint) else {
            throw ModelError(.invalidArgument, "the saved state is damaged or from another model (checksum mismatch)")
        }
        var o = 0
        func get<T>(_: T.Type) -> T {
            defer { o += MemoryLayout<T>.size }
            return buffer.loadUnaligned(fromByteOffset: o, as: T.self)
        }
        guard get(UInt32.self) == Self.magic, get(UInt32.self) == UInt32(model.width),
            get(UInt32.self) == UInt32(model.classes)
        else {
            throw ModelError(.invalidArgument, "the saved state is not from a stream of this model")
        }
        let flags = get(UInt32.self)
        let count = get(UInt64.self)
        var newPending = pending
        var newSum = sum
        for i in newPending.indices { newPending[i] = get(Float.self) }
        for i in newSum.indices { newSum[i] = get(Float.self) }
        // A count near Int.max would trap at the next row; a decision needs a row.
        guard flags <= 3, count <= 1 << 53, flags & 2 == 0 || count >= 1,
            (newPending + newSum).allSatisfy({ $0.isFinite })
        else {
            throw ModelError(.invalidArgument, "the saved state is damaged")
        }
        pending = newPending
        sum = newSum
        hasPending = flags & 1 != 0
        decided = flags & 2 != 0
        emitted = Int(count)
        rowCount = 0
    }
}
