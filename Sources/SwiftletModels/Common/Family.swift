import SwiftletFormat
import SwiftletKernels

/// A loaded model of one family: immutable, shared by every session and stream made from it.
public protocol FamilyModel: AnyObject, Sendable {
    /// The family name stored in `general.family`.
    var family: String { get }
    var inputs: [TensorInfo] { get }
    var outputs: [TensorInfo] { get }
    /// How many classes the model scores (the width of its output rows), for classifiers; nil for
    /// language models. `general.labels` names them.
    var classCount: Int? { get }
    /// Seconds between a stream's frames (the audio front end's frame shift), for models that have
    /// one; nil otherwise.
    var frameSeconds: Double? { get }
    /// The transform that makes the model's input from a decoded RGB image (timm's evaluation
    /// transform, from the file's `image.*` metadata). Throws `.unsupported` when the model takes no
    /// images: the default, for families that are not image classifiers.
    func imageTransform() throws(ModelError) -> ImageTransform
    /// The budget knobs a session call (run, prefill) takes; `Budget.validate(for:stream:)` refuses
    /// the others.
    var sessionKnobs: Set<BudgetKnob> { get }
    /// The budget knobs a stream takes (none for families that do not stream).
    var streamKnobs: Set<BudgetKnob> { get }
    /// Makes the per-session state (caches, output buffers), bound to the session's context.
    func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner
    /// Makes the per-stream state. Families without streaming keep the default, which refuses.
    func makeStreamer(input: StreamInput, context: ExecutionContext) throws(ModelError) -> any FamilyStreamer
}

extension FamilyModel {
    public var classCount: Int? { nil }
    public var frameSeconds: Double? { nil }
    public func imageTransform() throws(ModelError) -> ImageTransform {
        throw ModelError(
            .unsupported,
            "the \(family) family does not take images; image input is for vit models converted with --preprocess")
    }
    public var streamKnobs: Set<BudgetKnob> { [] }
    public func makeStreamer(input: StreamInput, context: ExecutionContext) throws(ModelError) -> any FamilyStreamer {
        throw ModelError(.unsupported, "the \(family) family does not stream; use a session run instead")
    }
}

/// What a stream is fed.
public enum StreamInput: Sendable, Equatable {
    case frames
    case pcm
}

/// Per-session state of a model, bound to the session's `ExecutionContext` (threads, arena, clock,
/// abort, report). Not thread-safe: the API layer serialises calls.
public protocol FamilyRunner: AnyObject {
    /// Runs the whole input and returns the outputs in the model's output order.
    func run(_ inputs: [TensorView], budget: Budget) throws(ModelError) -> [Tensor]

    /// Language models: the shared state (position, logits, deferred head); nil for other families.
    var languageModel: LanguageModelState? { get }
    /// Starts a sequence from a prompt; the last position's logits are computed now.
    func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget) throws(ModelError)
    /// Appends one token through the cache.
    func decode(_ id: Int32) throws(ModelError)
    /// The LM head over `rows` rows that went through the final norm (a prefill's deferred rows).
    func head(normed: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>)
    /// Measures what the settings of the budget's knobs cost on this context's threads, for latency
    /// budgets (`SessionOptions.calibrate`). Families whose cost model needs no measurement keep the
    /// default, which does nothing.
    func calibrate() throws(ModelError)
}

extension FamilyRunner {
    public var languageModel: LanguageModelState? { nil }
    public func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget) throws(ModelError) {
        throw ModelError(
            .unsupported, "this model is not a language model: prefill and decode need LoopFormer or MemoryFormer")
    }
    public func decode(_ id: Int32) throws(ModelError) {
        throw ModelError(
            .unsupported, "this model is not a language model: prefill and decode need LoopFormer or MemoryFormer")
    }
    public func head(normed: UnsafePointer<Float>, rows: Int, into logits: UnsafeMutablePointer<Float>) {}
    public func calibrate() throws(ModelError) {}
}

/// Per-stream state of a model, bound to the stream's `ExecutionContext`. Not thread-safe: the API
/// layer serialises calls.
public protocol FamilyStreamer: AnyObject {
    var frameWidth: Int { get }
    var outputWidth: Int { get }
    /// Consumes frames; returns the number of output rows now in `outputRows`.
    func push(_ frames: UnsafeBufferPointer<Float>) throws(ModelError) -> Int
    /// Consumes 16 kHz PCM samples (streams made with `.pcm`).
    func pushPCM(_ samples: UnsafeBufferPointer<Int16>) throws(ModelError) -> Int
    /// Ends the input: emits what was held back for look-ahead.
    func flush() throws(ModelError) -> Int
    /// Rows produced by the last push or flush, `count × outputWidth`.
    var outputRows: UnsafeBufferPointer<Float> { get }
    /// Word detection: what the model says of each frame of those rows on its own (the same count),
    /// where `outputRows` hold a running prediction — the LMUFormer head of one frame rather than of
    /// the mean since the start. Filled once `startDetection` was called; the default is
    /// `outputRows`, for families whose rows are already per frame.
    var frameScores: UnsafeBufferPointer<Float> { get }
    /// Makes this a detecting stream: fill `frameScores`, and listen until flushed (a PCM stream no
    /// longer ends its clip at the model's clip length). Called before the first push.
    func startDetection()
    func reset()
    func setBudget(_ budget: Budget) throws(ModelError)
    /// Cumulative report since the last reset.
    var report: RunReport { get }
    var stateSize: Int { get }
    func saveState(into buffer: UnsafeMutableRawBufferPointer) throws(ModelError)
    func loadState(from buffer: UnsafeRawBufferPointer) throws(ModelError)
}

extension FamilyStreamer {
    public var frameScores: UnsafeBufferPointer<Float> { outputRows }
    public func startDetection() {}

    public func pushPCM(_ samples: UnsafeBufferPointer<Int16>) throws(ModelError) -> Int {
        throw ModelError(
            .unsupported,
            "this stream takes feature frames, not PCM; create it with PCM input on a model that has an audio front end"
        )
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
