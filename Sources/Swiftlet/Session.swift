import SwiftletModels

/// Options for a session.
public struct SessionOptions: Sendable {
    /// Compute threads; 0 = every core.
    public var threads: Int
    /// Polled between layers; return true to stop the call (it then throws `.aborted`).
    public var shouldAbort: (@Sendable () -> Bool)?

    public init(threads: Int = 0, shouldAbort: (@Sendable () -> Bool)? = nil) {
        self.threads = threads
        self.shouldAbort = shouldAbort
    }
}

/// The per-caller state of a model: scratch memory, caches and the last outputs. Use a session from
/// one thread at a time; a concurrent second call throws `.busy`.
public final class Session: @unchecked Sendable {
    public let model: Model
    let runner: any FamilyRunner
    let threads: Int
    let shouldAbort: (@Sendable () -> Bool)?
    let busy = BusyFlag()
    /// Outputs of the last successful `run`.
    public private(set) var lastOutputs: [Tensor] = []
    /// Report of the last successful call.
    public private(set) var lastReport = RunReport()

    init(model: Model, options: SessionOptions) throws(SwiftletError) {
        self.model = model
        threads = try resolveThreads(options.threads)
        shouldAbort = options.shouldAbort
        do {
            runner = try model.impl.makeRunner(threads: threads)
        } catch {
            throw SwiftletError(error)
        }
    }

    /// Runs the model on owned tensors (float32 inputs); returns the outputs and what the run cost.
    public func run(_ inputs: [Tensor], budget: Budget = Budget()) throws(SwiftletError) -> (outputs: [Tensor], report: RunReport) {
        let result: Result<RunReport, SwiftletError> = withViews(inputs) { views in
            Result { () throws(SwiftletError) in try run(views: views, budget: budget) }
        }
        let report = try result.get()
        return (lastOutputs, report)
    }

    /// Runs the model on borrowed inputs (any dtype, zero-copy); outputs land in `lastOutputs`.
    @discardableResult
    public func run(views: [TensorView], budget: Budget = Budget()) throws(SwiftletError) -> RunReport {
        try busy.run("session") { () throws(SwiftletError) in
            var outputs: [Tensor] = []
            let report = try perform(threads: threads, abort: shouldAbort) { (control) throws(ModelError) in
                outputs = try runner.run(views, budget: budget, control: control)
            }
            lastOutputs = outputs
            lastReport = report
            return report
        }
    }

    // MARK: language models

    /// Tokens in the cache.
    public var position: Int { runner.position }
    /// The model's context limit in tokens.
    public var contextLength: Int { runner.contextLength }
    public var vocabSize: Int { runner.vocabSize }

    /// Starts a new sequence: clears the cache, fixes the budget's choice (e.g. the loop trajectory)
    /// for the sequence, and computes logits for every prompt position (see `logits`).
    @discardableResult
    public func prefill(_ ids: [Int32], budget: Budget = Budget()) throws(SwiftletError) -> RunReport {
        let result: Result<RunReport, SwiftletError> = ids.withUnsafeBufferPointer { buf in
            Result { () throws(SwiftletError) in try prefill(buf, budget: budget) }
        }
        return try result.get()
    }

    @discardableResult
    public func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget = Budget()) throws(SwiftletError) -> RunReport {
        try busy.run("session") { () throws(SwiftletError) in
            let report = try perform(threads: threads, abort: shouldAbort) { (control) throws(ModelError) in
                try runner.prefill(ids, budget: budget, control: control)
            }
            lastReport = report
            return report
        }
    }

    /// Appends one token through the cache; its logits are then `logits` (one row).
    @discardableResult
    public func decode(_ id: Int32) throws(SwiftletError) -> RunReport {
        try busy.run("session") { () throws(SwiftletError) in
            let report = try perform(threads: threads, abort: shouldAbort) { (control) throws(ModelError) in
                try runner.decode(id, control: control)
            }
            lastReport = report
            return report
        }
    }

    /// Logits of the last prefill (every position) or decode (one row), positions × vocabulary.
    /// After a prefill, the earlier positions' rows may be computed only when this is first read.
    public var logits: UnsafeBufferPointer<Float> { runner.logits }

    /// Logits of the last position only: what sampling needs, without the other prompt rows.
    public var lastLogits: UnsafeBufferPointer<Float> { runner.lastLogits }

    /// Prefills `prompt`, then samples and decodes up to `maxTokens` tokens. Returns the new tokens and
    /// the report of each decode step (the first entry is the prefill's).
    public func generate(prompt: [Int32], maxTokens: Int, sampler: Sampler = Sampler(), seed: UInt64 = 0,
                         budget: Budget = Budget(), stopAt: Int32? = nil) throws(SwiftletError) -> (tokens: [Int32], reports: [RunReport]) {
        guard maxTokens >= 0 else { throw .invalidArgument("maxTokens must be at least 0, got \(maxTokens)") }
        var reports = [try prefill(prompt, budget: budget)]
        var rng = seed
        var tokens: [Int32] = []
        for i in 0..<maxTokens {
            let token = try sampler.sample(lastLogits, state: &rng)
            tokens.append(token)
            if token == stopAt || i == maxTokens - 1 { break }
            if position >= contextLength { break }
            reports.append(try decode(token))
        }
        return (tokens, reports)
    }
}
