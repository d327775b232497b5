/// What every language-model family keeps between calls besides its cache: the position, the logits
/// of the last call, and the final-normed rows of a prefill's earlier positions, whose LM head runs
/// only if all positions' logits are asked for. Also the checks every family makes of token ids, the
/// context and the call order, so that they fail the same way in each.
public final class LanguageModelState {
    public let vocab: Int
    public let contextLength: Int
    /// Floats per deferred row (the model width); 0: the family computes every row's logits.
    public let width: Int
    /// Tokens in the cache.
    public private(set) var position = 0

    private let logitBuffer = FloatBuffer()
    private var logitRows = 0
    private let deferredBuffer = FloatBuffer()
    private var deferredRows = 0

    public init(vocab: Int, contextLength: Int, width: Int) {
        self.vocab = vocab
        self.contextLength = contextLength
        self.width = width
    }

    /// Every id in `0..<vocab`.
    public func checkIDs(_ ids: UnsafeBufferPointer<Int32>) throws(ModelError) {
        for (i, id) in ids.enumerated() where id < 0 || Int(id) >= vocab {
            throw ModelError(.invalidArgument, "token id \(id) at index \(i) is outside the vocabulary 0..<\(vocab)")
        }
    }

    /// Sequences of `length` tokens fit the context.
    public func checkLength(_ length: Int, what: String = "the sequence") throws(ModelError) {
        guard length <= contextLength else {
            throw ModelError(
                .contextFull, "\(what) has \(length) tokens but the model's context holds \(contextLength)")
        }
    }

    /// Checks a prompt and forgets the old sequence (whether or not the prefill completes). Returns
    /// room for the logits of every position and for the deferred rows (all but the last position).
    public func startPrefill(_ ids: UnsafeBufferPointer<Int32>) throws(ModelError)
        -> (logits: UnsafeMutablePointer<Float>, deferred: UnsafeMutablePointer<Float>?)
    {
        guard !ids.isEmpty else { throw ModelError(.invalidArgument, "prefill needs at least one token") }
        try checkLength(ids.count, what: "the prompt")
        try checkIDs(ids)
        position = 0
        logitRows = 0
        deferredRows = 0
        let logits = try logitBuffer.ensure(ids.count * vocab, what: "the logits of \(ids.count) positions")
        guard width > 0 else { return (logits, nil) }
        let deferred = try deferredBuffer.ensure(
            (ids.count - 1) * width, what: "the final activations of \(ids.count) positions")
        return (logits, deferred)
    }

    /// The prefill completed: `count` tokens are cached; rows `0..<count-1` of the logits are
    /// deferred when the family keeps their final-normed activations (`width > 0`).
    public func finishPrefill(count: Int) {
        position = count
        logitRows = count
        deferredRows = width > 0 ? count - 1 : 0
    }

    /// Checks a decode step (a prefill first, room in the context, a valid id); returns the row for
    /// its logits.
    public func startDecode(_ id: Int32) throws(ModelError) -> UnsafeMutablePointer<Float> {
        guard position > 0 else { throw ModelError(.state, "decode needs a prefill first") }
        guard position < contextLength else {
            throw ModelError(
                .contextFull,
                "the context of \(contextLength) tokens is full; start a new prefill with a shorter prompt")
        }
        guard id >= 0, Int(id) < vocab else {
            throw ModelError(.invalidArgument, "token id \(id) is outside the vocabulary 0..<\(vocab)")
        }
        logitRows = 0
        deferredRows = 0
        return try logitBuffer.ensure(vocab, what: "the logits")
    }

    /// The decode step completed.
    public func finishDecode() {
        position += 1
        logitRows = 1
    }

    /// Every row of the last call, `positions × vocab`; after a prefill the deferred rows go through
    /// `head` here, once.
    public func logits(head: (_ normed: UnsafePointer<Float>, _ rows: Int, _ into: UnsafeMutablePointer<Float>) -> Void)
        -> UnsafeBufferPointer<Float>
    {
        guard let out = logitBuffer.pointer, logitRows > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        if deferredRows > 0, let normed = deferredBuffer.pointer {
            head(normed, deferredRows, out)
            deferredRows = 0
        }
        return UnsafeBufferPointer(start: out, count: logitRows * vocab)
    }

    /// The last position's logits, `vocab` floats.
    public var lastLogits: UnsafeBufferPointer<Float> {
        guard let out = logitBuffer.pointer, logitRows > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: out + (logitRows - 1) * vocab, count: vocab)
    }
}
