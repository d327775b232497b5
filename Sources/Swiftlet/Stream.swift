import SwiftletModels

/// Options for a stream.
public struct StreamOptions: Sendable {
    /// Feature frames, or 16 kHz PCM through the model's audio front end.
    public var input: StreamInput
    /// Compute threads; per-frame work is small, so 1 is the default.
    public var threads: Int
    public var shouldAbort: (@Sendable () -> Bool)?

    public init(input: StreamInput = .frames, threads: Int = 1, shouldAbort: (@Sendable () -> Bool)? = nil) {
        self.input = input
        self.threads = threads
        self.shouldAbort = shouldAbort
    }
}

/// Frame-by-frame inference with state that persists between pushes. Use from one thread at a time;
/// a concurrent second call throws `.busy`.
public final class Stream: @unchecked Sendable {
    public let model: Model
    let streamer: any FamilyStreamer
    let threads: Int
    let shouldAbort: (@Sendable () -> Bool)?
    let busy = BusyFlag()
    let control: RunControl

    init(model: Model, options: StreamOptions) throws(SwiftletError) {
        self.model = model
        threads = try resolveThreads(options.threads)
        shouldAbort = options.shouldAbort
        control = RunControl(shouldAbort: options.shouldAbort)
        do {
            streamer = try model.impl.makeStreamer(input: options.input)
        } catch {
            throw SwiftletError(error)
        }
    }

    /// Floats per input frame and per output row.
    public var frameWidth: Int { streamer.frameWidth }
    public var outputWidth: Int { streamer.outputWidth }

    /// Rows produced by the last push or flush (a view, valid until the next call).
    public var lastRows: UnsafeBufferPointer<Float> { streamer.outputRows }

    /// Pushes frames (row-major, a whole number of frames); returns the rows they produced.
    public func push(_ frames: [Float]) throws(SwiftletError) -> [[Float]] {
        let result: Result<Int, SwiftletError> = frames.withUnsafeBufferPointer { buf in
            Result { () throws(SwiftletError) in try push(buf) }
        }
        _ = try result.get()
        return rowsArray()
    }

    /// Pushes frames without copying; returns the number of rows now in `lastRows`.
    @discardableResult
    public func push(_ frames: UnsafeBufferPointer<Float>) throws(SwiftletError) -> Int {
        try call { (control) throws(ModelError) in try streamer.push(frames, control: control) }
    }

    /// Pushes 16 kHz PCM samples (streams made with `.pcm` input).
    @discardableResult
    public func pushPCM(_ samples: UnsafeBufferPointer<Int16>) throws(SwiftletError) -> Int {
        try call { (control) throws(ModelError) in try streamer.pushPCM(samples, control: control) }
    }

    public func pushPCM(_ samples: [Int16]) throws(SwiftletError) -> [[Float]] {
        let result: Result<Int, SwiftletError> = samples.withUnsafeBufferPointer { buf in
            Result { () throws(SwiftletError) in try pushPCM(buf) }
        }
        _ = try result.get()
        return rowsArray()
    }

    /// Ends the input: returns the rows held back for look-ahead, as a whole-input run would give them.
    public func flush() throws(SwiftletError) -> [[Float]] {
        _ = try flushInPlace()
        return rowsArray()
    }

    @discardableResult
    public func flushInPlace() throws(SwiftletError) -> Int {
        try call { (control) throws(ModelError) in try streamer.flush(control: control) }
    }

    /// Forgets everything pushed (the budget stays).
    public func reset() throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in streamer.reset() }
    }

    /// Sets the early-decision budget.
    public func setBudget(_ budget: Budget) throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in
            do throws(ModelError) { try streamer.setBudget(budget) } catch { throw SwiftletError(error) }
        }
    }

    /// What the stream has used and decided since the last reset.
    public var report: RunReport { streamer.report }

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

    public func loadState(_ bytes: UnsafeRawBufferPointer) throws(SwiftletError) {
        try busy.run("stream") { () throws(SwiftletError) in
            do throws(ModelError) { try streamer.loadState(from: bytes) } catch { throw SwiftletError(error) }
        }
    }

    public func loadState(_ bytes: [UInt8]) throws(SwiftletError) {
        let result: Result<Void, SwiftletError> = bytes.withUnsafeBytes { raw in
            Result { () throws(SwiftletError) in try loadState(raw) }
        }
        try result.get()
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

    private func call(_ body: (RunControl) throws(ModelError) -> Int) throws(SwiftletError) -> Int {
        try busy.run("stream") { () throws(SwiftletError) in
            var n = 0
            _ = try perform(threads: threads, abort: shouldAbort, control: control) { (control) throws(ModelError) in
                n = try body(control)
            }
            return n
        }
    }

    private func rowsArray() -> [[Float]] {
        let rows = streamer.outputRows
        let w = streamer.outputWidth
        guard w > 0 else { return [] }
        return (0..<(rows.count / w)).map { Array(rows[($0 * w)..<(($0 + 1) * w)]) }
    }
}
