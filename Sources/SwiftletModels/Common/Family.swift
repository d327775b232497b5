import SwiftletFormat

/// A loaded model of one family: immutable, shared by every session and stream made from it.
public protocol FamilyModel: AnyObject, Sendable {
    /// The family name stored in `general.family`.
    var family: String { get }
    var inputs: [TensorInfo] { get }
    var outputs: [TensorInfo] { get }
    /// Makes the per-session state (scratch arena, caches, output buffers).
    func makeRunner(threads: Int) throws(ModelError) -> any FamilyRunner
    /// Makes the per-stream state. Families without streaming keep the default, which refuses.
    func makeStreamer(input: StreamInput) throws(ModelError) -> any FamilyStreamer
}

extension FamilyModel {
    public func makeStreamer(input: StreamInput) throws(ModelError) -> any FamilyStreamer {
        throw ModelError(.unsupported, "the \(family) family does not stream; use a session run instead")
    }
}

/// What a stream is fed.
public enum StreamInput: Sendable, Equatable {
    case frames
    case pcm
}

/// Per-session state of a model. Not thread-safe: the API layer serialises calls.
public protocol FamilyRunner: AnyObject {
    /// Runs the whole input and returns the outputs in the model's output order.
    func run(_ inputs: [TensorView], budget: Budget, control: RunControl) throws(ModelError) -> [Tensor]

    // Language models: prefill a prompt, then decode token by token through the cache.
    var contextLength: Int { get }
    var position: Int { get }
    var vocabSize: Int { get }
    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget, control: RunControl) throws(ModelError)
    func decode(_ id: Int32, control: RunControl) throws(ModelError)
    /// Logits of the last prefill (every position) or decode (one row), `positions × vocabSize`.
    /// A runner may defer the LM head of the earlier prompt positions until this is read.
    var logits: UnsafeBufferPointer<Float> { get }
    /// Logits of the last position only (what generation needs), `vocabSize` floats.
    var lastLogits: UnsafeBufferPointer<Float> { get }
}

extension FamilyRunner {
    public var contextLength: Int { 0 }
    public var position: Int { 0 }
    public var vocabSize: Int { 0 }
    public func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget, control: RunControl) throws(ModelError) {
        throw ModelError(.unsupported, "this model is not a language model: prefill and decode need LoopFormer or MemoryFormer")
    }
    public func decode(_ id: Int32, control: RunControl) throws(ModelError) {
        throw ModelError(.unsupported, "this model is not a language model: prefill and decode need LoopFormer or MemoryFormer")
    }
    public var logits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: nil, count: 0) }
    public var lastLogits: UnsafeBufferPointer<Float> {
        let all = logits
        guard vocabSize > 0, all.count >= vocabSize else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(rebasing: all[(all.count - vocabSize)...])
    }
}

/// Per-stream state of a model. Not thread-safe: the API layer serialises calls.
public protocol FamilyStreamer: AnyObject {
    var frameWidth: Int { get }
    var outputWidth: Int { get }
    /// Consumes frames; returns the number of output rows now in `outputRows`.
    func push(_ frames: UnsafeBufferPointer<Float>, control: RunControl) throws(ModelError) -> Int
    /// Consumes 16 kHz PCM samples (streams made with `.pcm`).
    func pushPCM(_ samples: UnsafeBufferPointer<Int16>, control: RunControl) throws(ModelError) -> Int
    /// Ends the input: emits what was held back for look-ahead.
    func flush(control: RunControl) throws(ModelError) -> Int
    /// Rows produced by the last push or flush, `count × outputWidth`.
    var outputRows: UnsafeBufferPointer<Float> { get }
    func reset()
    func setBudget(_ budget: Budget) throws(ModelError)
    /// Cumulative report since the last reset.
    var report: RunReport { get }
    var stateSize: Int { get }
    func saveState(into buffer: UnsafeMutableRawBufferPointer) throws(ModelError)
    func loadState(from buffer: UnsafeRawBufferPointer) throws(ModelError)
}

extension FamilyStreamer {
    public func pushPCM(_ samples: UnsafeBufferPointer<Int16>, control: RunControl) throws(ModelError) -> Int {
        throw ModelError(.unsupported, "this stream takes feature frames, not PCM; create it with PCM input on a model that has an audio front end")
    }
}

extension ModelError {
    /// Maps a format error (a missing or damaged tensor) to a model error.
    public init(_ error: FormatError) {
        let kind: Kind
        switch error.kind {
        case .checksum: kind = .checksum
        case .newerVersion: kind = .newerVersion
        case .io: kind = .io
        case .unsupportedDType, .unsupportedCodec: kind = .unsupported
        default: kind = .format
        }
        self.init(kind, error.message)
    }
}
