import SwiftletModels

/// Options for a session.
public struct SessionOptions: Sendable {
    /// Compute threads; 0 = every core.
    public var threads: Int
    /// Polled between layers; return true to stop the call (it then throws `.aborted`).
    public var shouldAbort: (@Sendable () -> Bool)?
    /// Measure at creation what each setting of the budget costs with these threads, so that the first
    /// call with a latency limit already chooses from measured costs. Without it, that first call
    /// measures them and takes longer.
    public var calibrate: Bool

    public init(threads: Int = 0, shouldAbort: (@Sendable () -> Bool)? = nil, calibrate: Bool = false) {
        self.threads = threads
        self.shouldAbort = shouldAbort
        self.calibrate = calibrate
    }
}

/// The per-caller state of a model: its execution context (threads, scratch, abort), caches and the
/// last outputs. Use a session from one thread at a time: a concurrent second call — including a
/// read of the outputs, report or logits — throws `.busy`.
public final class Session: @unchecked Sendable {
    public let model: Model
    let context: ExecutionContext
    let runner: any FamilyRunner
    let busy = BusyFlag()
    /// Outputs of the last successful run (read them through `lastOutputs`, which takes the lock).
    var outputs: [Tensor] = []
    private var report = RunReport()

    init(model: Model, options: SessionOptions) throws(SwiftletError) {
        self.model = model
        context = ExecutionContext(threads: try resolveThreads(options.threads), shouldAbort: options.shouldAbort)
        do {
            runner = try model.impl.makeRunner(context: context)
        } catch {
            throw SwiftletError(error)
        }
        if options.calibrate {
            let runner = self.runner
            _ = try context.perform { () throws(ModelError) in try runner.calibrate() }
        }
    }

    /// Threads the session's calls run on (the caller's included).
    public var threads: Int { context.threads }

    /// Runs the model on owned tensors (float32 inputs); returns the outputs and what the run cost.
    public func run(_ inputs: [Tensor], budget: Budget = Budget()) throws(SwiftletError) -> (
        outputs: [Tensor], report: RunReport
    ) {
        let result: Result<(outputs: [Tensor], report: RunReport), SwiftletError> = withViews(inputs) { views in
            Result { () throws(SwiftletError) in
                try busy.run("session") { () throws(SwiftletError) in
                    let report = try runLocked(views, budget: budget)
                    return (outputs, report)
                }
            }
        }
        return try result.get()
    }

    /// Runs the model on borrowed inputs (any dtype, zero-copy); outputs land in `lastOutputs`.
    @discardableResult
    public func run(views: [TensorView], budget: Budget = Budget()) throws(SwiftletError) -> RunReport {
        try busy.run("session") { () throws(SwiftletError) in try runLocked(views, budget: budget) }
    }

    private func runLocked(_ views: [TensorView], budget: Budget) throws(SwiftletError) -> RunReport {
        try runLocked(budget: budget) { () throws(ModelError) in try runner.run(views, budget: budget) }
    }

    /// Runs `body` (which makes the outputs) as one call of the session: timed and reported, its
    /// outputs checked and kept.
    func runLocked(budget: Budget, _ body: () throws(ModelError) -> [Tensor]) throws(SwiftletError) -> RunReport {
        var produced: [Tensor] = []
        let r = try context.perform { () throws(ModelError) in
            // The report says whether a latency limit was met, whatever the family does with it.
            if let limit = budget.maxLatencyMs, limit.isFinite { context.deadline = context.callStart + limit * 1000 }
            produced = try body()
            let names = model.impl.outputs.map(\.name)
            for (i, t) in produced.enumerated() { try t.requireFinite(i < names.count ? names[i] : "\(i)") }
        }
        outputs = produced
        report = r
        return r
    }

    /// Outputs of the last successful `run`.
    public var lastOutputs: [Tensor] {
        get throws(SwiftletError) { try busy.run("session") { () throws(SwiftletError) in outputs } }
    }

    /// Report of the last successful call.
    public var lastReport: RunReport {
        get throws(SwiftletError) { try busy.run("session") { () throws(SwiftletError) in report } }
    }

    // MARK: language models

    private func languageModel() throws(SwiftletError) -> LanguageModelState {
        guard let lm = runner.languageModel else {
            throw .unsupported("this model is not a language model: prefill and decode need LoopFormer or MemoryFormer")
        }
        return lm
    }

    /// Tokens in the cache (0 for models that are not language models).
    public var position: Int {
        get throws(SwiftletError) {
            try busy.run("session") { () throws(SwiftletError) in runner.languageModel?.position ?? 0 }
        }
    }
    /// The model's context limit in tokens (0 for models that are not language models).
    public var contextLength: Int { runner.languageModel?.contextLength ?? 0 }
    public var vocabSize: Int { runner.languageModel?.vocab ?? 0 }

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
    public func prefill(_ ids: UnsafeBufferPointer<Int32>, budget: Budget = Budget()) throws(SwiftletError) -> RunReport
    {
        try busy.run("session") { () throws(SwiftletError) in
            report = try context.perform { () throws(ModelError) in try runner.prefill(ids, budget: budget) }
            return report
        }
    }

    /// Appends one token through the cache; its logits are then `logits` (one row).
    @discardableResult
    public func decode(_ id: Int32) throws(SwiftletError) -> RunReport {
        try busy.run("session") { () throws(SwiftletError) in
            report = try context.perform { () throws(ModelError) in try runner.decode(id) }
            return report
        }
    }

    /// Logits of the last prefill (every position) or decode (one row), positions × vocabulary; a view
    /// valid until the next call. After a prefill, the earlier positions' rows are computed when this
    /// is first read.
    public var logits: UnsafeBufferPointer<Float> {
        get throws(SwiftletError) {
            try busy.run("session") { () throws(SwiftletError) in
                let lm = try languageModel()
                let runner = self.runner
                return lm.logits { normed, rows, out in runner.head(normed: normed, rows: rows, into: out) }
            }
        }
    }

    /// Logits of the last position only: what sampling needs, without the other prompt rows.
    public var lastLogits: UnsafeBufferPointer<Float> {
        get throws(SwiftletError) {
            try busy.run("session") { () throws(SwiftletError) in try languageModel().lastLogits }
        }
    }

    /// Prefills `prompt`, then samples and decodes up to `maxTokens` tokens. Returns the new tokens and
    /// the report of each decode step (the first entry is the prefill's). `onToken` sees each token as
    /// it is sampled (to print text as it comes); returning false ends the generation after it, as
    /// `stopAt` does.
    public func generate(
        prompt: [Int32], maxTokens: Int, sampler: Sampler = Sampler(), seed: UInt64 = 0,
        budget: Budget = Budget(), stopAt: Int32? = nil,
        onToken: ((Int32) throws(SwiftletError) -> Bool)? = nil
    ) throws(SwiftletError) -> (tokens: [Int32], reports: [RunReport]) {
        guard maxTokens >= 0 else { throw .invalidArgument("maxTokens must be at least 0, got \(maxTokens)") }
        var budget = budget
        if budget.generationTokens == nil, maxTokens > 1 {
            // A per-token limit plans for the context the generation reaches (the last token is sampled,
            // not decoded).
            budget.generationTokens = maxTokens - 1
        }
        var reports = [try prefill(prompt, budget: budget)]
        var rng = seed
        var tokens: [Int32] = []
        for i in 0..<maxTokens {
            let token = try sampler.sample(try lastLogits, state: &rng)
            tokens.append(token)
            let more = try onToken?(token) ?? true
            if token == stopAt || !more || i == maxTokens - 1 { break }
            if try position >= contextLength { break }
            reports.append(try decode(token))
        }
        return (tokens, reports)
    }
}
