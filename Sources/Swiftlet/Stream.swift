import SwiftletModels

/// Options for a stream.
public struct StreamOptions: Sendable {
    /// Feature frames, or 16 kHz PCM through the model's audio front end.
    public var input: StreamInput
    /// Compute threads; per-frame work is small, so 1 is the default, and 0 means the default (as
    /// `n_threads` 0 does in the C API).
    public var threads: Int
    public var shouldAbort: (@Sendable () -> Bool)?
    /// Word detection on the stream's per-frame class scores (`Stream.detections`); nil: none. A
    /// detecting stream listens until flushed: a PCM stream does not end its clip at the model's clip
    /// length, and early-decision budgets are refused.
    public var detector: DetectorOptions?

    public init(
        input: StreamInput = .frames, threads: Int = 1, shouldAbort: (@Sendable () -> Bool)? = nil,
        detector: DetectorOptions? = nil
    ) {
        self.input = input
        self.threads = threads
        self.shouldAbort = shouldAbort
        self.detector = detector
    }
}

/// Frame-by-frame inference with state that persists between pushes. Use from one thread at a time;
/// a concurrent second call — including a read of the rows or the report — throws `.busy`.
public final class Stream: @unchecked Sendable {
    public let model: Model
    let context: ExecutionContext
    let streamer: any FamilyStreamer
    let busy = BusyFlag()
    private var detector: WordDetector?
    private var lastDetections: [Detection] = []

    init(model: Model, options: StreamOptions) throws(SwiftletError) {
        self.model = model
        context = ExecutionContext(
            threads: options.threads == 0 ? 1 : try resolveThreads(options.threads),
            shouldAbort: options.shouldAbort)
        do {
            streamer = try model.impl.makeStreamer(input: options.input, context: context)
        } catch {
            throw SwiftletError(error)
        }
        if let d = options.detector {
            guard let classes = model.impl.classCount else {
                throw .unsupported("word detection needs a model that scores classes; \(model.family) does not")
            }
            detector = try WordDetector(
                classes: classes, labels: model.labels, options: d, frameSeconds: model.impl.frameSeconds ?? 0.01)
            streamer.startDetection()
        }
    }

    /// The stream's word detector (nil unless the stream was made with `StreamOptions.detector`).
    public var wordDetector: WordDetector? { detector }

    /// The words the last push or flush completed, in order (streams made with a detector).
    public var detections: [Detection] {
        get throws(SwiftletError) {
            try busy.run("stream") { () throws(SwiftletError) in
                guard detector != nil else {
                    throw .state("this stream was made without a detector; set StreamOptions.detector")
                }
                return lastDetections
            }
        }
    }

    /// Threads the stream's pushes run on (the caller's included).
    public var threads: Int { context.threads }

    /// Floats per input frame and per output row.
    public var frameWidth: Int { streamer.frameWidth }
    public var outputWidth: Int { streamer.outputWidth }

    /// Rows produced by the last push or flush (a view, valid until the next call).
    public var lastRows: UnsafeBufferPointer<Float> {
        get throws(SwiftletError) { try busy.run("stream") { () throws(SwiftletError) in streamer.outputRows } }
    }

    /// Pushes frames (row-major, a whole number of frames); returns the rows they produced.
    public func push(_ frames: [Float]) throws(SwiftletError) -> [[Float]] {
        let result: Result<Int, SwiftletError> = frames.withUnsafeBufferPointer { buf in
            Result { () throws(SwiftletError) in try push(buf) }
        }
        return try rowsArray(result.get())
    }

    /// Pushes frames without copying; returns the number of rows now in `lastRows`.
    @discardableResult
    public func push(_ frames: UnsafeBufferPointer<Float>) throws(SwiftletError) -> Int {
        try call { () throws(ModelError) in try streamer.push(frames) }
    }

    /// Pushes 16 kHz PCM samples (streams made with `.pcm` input).
    @discardableResult
    public func pushPCM(_ samples: UnsafeBufferPointer<Int16>) throws(SwiftletError) -> Int {
        try call { () throws(ModelError) in try streamer.pushPCM(samples) }
    }

    public func pushPCM(_ samples: [Int16]) throws(SwiftletError) -> [[Float]] {
        let result: Result<Int, SwiftletError> = samples.withUnsafeBufferPointer { buf in
            Result { () throws(SwiftletError) in try pushPCM(buf) }
        }
        return try rowsArray(result.get())
    }

    /// Ends the input: returns the rows held back for look-ahead, as a whole-input run would give them.
    public func flush() throws(SwiftletError) -> [[Float]] {
        try rowsArray(flushInPlace())
    }

    @discardableResult
    public func flushInPlace() throws(SwiftletError) -> Int {
        try call(flushing: true) { () throws(ModelError) in try streamer.flush() }
    }

    /// Forgets everything pushed (the budget stays); the detector starts over.
    public func reset() throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in
            streamer.reset()
            detector?.reset()
            lastDetections = []
        }
    }

    /// Sets the early-decision budget.
    public func setBudget(_ budget: Budget) throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in
            if detector != nil
                && (budget.earlyFraction != nil || budget.earlyMargin != nil || budget.minQuality != nil)
            {
                throw .budget("a detecting stream listens until flushed; it takes no early-decision budget")
            }
            do throws(ModelError) { try streamer.setBudget(budget) } catch { throw SwiftletError(error) }
        }
    }

    /// What the stream has used and decided since the last reset.
    public var report: RunReport {
        get throws(SwiftletError) { try busy.run("stream") { () throws(SwiftletError) in streamer.report } }
    }

    /// The state as bytes, to resume on a stream of the same model.
    public var stateSize: Int { streamer.stateSize }

    public func saveState() throws(SwiftletError) -> [UInt8] {
        try busy.run("stream") { () throws(SwiftletError) in
            var bytes = [UInt8](repeating: 0, count: streamer.stateSize)
            let result: Result<Void, ModelError> = bytes.withUnsafeMutableBytes { raw in
                Result { () throws(ModelError) in try streamer.saveState(into: raw) }
            }
            do throws(ModelError) { try result.get() } catch { throw SwiftletError(error) }
            return bytes
        }
    }

    public func saveState(into buffer: UnsafeMutableRawBufferPointer) throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in
            do throws(ModelError) { try streamer.saveState(into: buffer) } catch { throw SwiftletError(error) }
        }
    }

    /// Restores a saved state. The detector is not part of it: it starts over, as after a reset.
    public func loadState(_ bytes: UnsafeRawBufferPointer) throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in
            detector?.reset()
            lastDetections = []
            do throws(ModelError) { try streamer.loadState(from: bytes) } catch { throw SwiftletError(error) }
        }
    }

    public func loadState(_ bytes: [UInt8]) throws(SwiftletError) {
        let result: Result<Void, SwiftletError> = bytes.withUnsafeBytes { raw in
            Result { () throws(SwiftletError) in try loadState(raw) }
        }
        try result.get()
    }

    /// Feeds chunks of 16 kHz PCM samples from an asynchronous source (a microphone) through a
    /// detecting PCM stream and yields the words as they are found; the stream is flushed when the
    /// source ends.
    public func detections<Source: AsyncSequence & Sendable>(for chunks: Source) -> AsyncThrowingStream<
        Detection, Error
    >
    where Source.Element == [Int16] {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await chunk in chunks {
                        _ = try chunk.withUnsafeBufferPointer { (buf) throws(SwiftletError) in try self.pushPCM(buf) }
                        for d in try self.detections { continuation.yield(d) }
                    }
                    try self.flushInPlace()
                    for d in try self.detections { continuation.yield(d) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Feeds chunks of frames from an asynchronous source and yields the output rows as they are
    /// produced; the stream is flushed when the source ends.
    public func outputs<Source: AsyncSequence & Sendable>(for chunks: Source) -> AsyncThrowingStream<[Float], Error>
    where Source.Element == [Float] {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await chunk in chunks {
                        for row in try self.push(chunk) { continuation.yield(row) }
                    }
                    for row in try self.flush() { continuation.yield(row) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Runs a push or flush, and the detector on its rows. Rows that overflowed float32 (finite
    /// frames can still overflow inside the model) are an error, not a result; the stream's state
    /// then holds the overflow, so the message says to reset it.
    private func call(flushing: Bool = false, _ body: () throws(ModelError) -> Int) throws(SwiftletError) -> Int {
        try busy.run("stream") { () throws(SwiftletError) in
            var n = 0
            lastDetections = []
            var failure: SwiftletError?
            do throws(SwiftletError) {
                _ = try context.perform { () throws(ModelError) in
                    n = try body()
                    func check(_ rows: UnsafeBufferPointer<Float>) throws(ModelError) {
                        if let i = firstNonFinite(rows) {
                            throw ModelError(
                                .numeric,
                                "output row \(i / max(streamer.outputWidth, 1)) of this call holds \(rows[i]): the computation overflowed float32 (are the frames scaled as the model expects?); reset the stream"
                            )
                        }
                    }
                    try check(streamer.outputRows)
                    if detector != nil { try check(streamer.frameScores) }
                }
            } catch {
                failure = error
            }
            // Rows a failed call made before failing (an abort between steps) still reach the
            // detector, so that its frame count stays the stream's.
            if detector != nil {
                lastDetections = try detector!.push(streamer.frameScores)
                if flushing && failure == nil { lastDetections += detector!.flush() }
            }
            if let failure { throw failure }
            return n
        }
    }

    /// The first `count` rows of the last push as arrays (read right after that push, on its thread).
    private func rowsArray(_ count: Int) -> [[Float]] {
        let rows = streamer.outputRows
        let w = streamer.outputWidth
        guard w > 0 else { return [] }
        return (0..<min(count, rows.count / w)).map { Array(rows[($0 * w)..<(($0 + 1) * w)]) }
    }
}
