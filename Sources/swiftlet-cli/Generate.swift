import ArgumentParser
import Foundation
import Swiftlet

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate tokens with a language model (LoopFormer, MemoryFormer) through its KV cache.",
        discussion: """
            Prefills the prompt, then decodes one token at a time. With --prompt (a model converted \
            with --tokenizer) the text is printed as it is generated, and generation ends at a \
            special token (end of text) unless --keep-special; with --prompt-ids each new id is \
            printed with its time. Generation also ends at the model's context length, which stderr \
            then says. Greedy by default; --temperature with optional --top-k samples, reproducibly \
            for a --seed. Timing goes to standard error.

            Examples:
              swiftlet generate lm.swl --prompt "def fibonacci(n):" --max-tokens 60
              swiftlet generate lm.swl --prompt-ids 1,2,3 --max-tokens 20 --loops 4 \\
                  --temperature 0.8 --top-k 40 --seed 7
            """)

    @Argument(help: "The .swl language model.")
    var model: String

    @Option(help: "Prompt text (the model must carry a tokenizer: convert --tokenizer).")
    var prompt: String?

    @Option(name: .customLong("prompt-ids"), help: "Comma-separated prompt token ids.")
    var promptIds: String?

    @Flag(
        name: .customLong("keep-special"),
        help: "With --prompt: go on past special tokens (end of text) and print them, instead of stopping.")
    var keepSpecial = false

    @Option(name: .customLong("max-tokens"), help: "How many tokens to generate.")
    var maxTokens: Int = 16

    @Option(help: "Sampling temperature; 0 = greedy.")
    var temperature: Float = 0

    @Option(name: .customLong("top-k"), help: "Sample among the k most likely tokens (0 = all).")
    var topK: Int = 0

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "Compute threads (0 = all cores).")
    var threads: Int = 0

    @OptionGroup var budget: BudgetOptions

    func validate() throws {
        guard (prompt == nil) != (promptIds == nil) else {
            throw ValidationError("give exactly one of --prompt (text) or --prompt-ids")
        }
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be at least 0, got \(maxTokens)") }
        guard temperature >= 0, temperature.isFinite else {
            throw ValidationError("--temperature must be 0 (greedy) or more, got \(temperature)")
        }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 (all tokens) or more, got \(topK)") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more, got \(threads)") }
        if let promptIds { _ = try parseList(promptIds, "--prompt-ids", Int32.init) }
    }

    func run() throws {
        let m = try openModel(model)
        let text = self.prompt != nil
        let prompt: [Int32]
        if let promptText = self.prompt {
            guard m.hasTokenizer else {
                failAndExit(
                    "\(model) carries no tokenizer, so --prompt cannot be turned into ids; convert it with --tokenizer tokenizer.json, or use --prompt-ids"
                )
            }
            prompt = try orFail { () throws(SwiftletError) in try m.tokenize(promptText) }
            guard !prompt.isEmpty else { failAndExit("--prompt is empty; give at least one character") }
        } else {
            prompt = try parseList(promptIds!, "--prompt-ids", Int32.init)
        }
        let b = try budget.budget()
        checkKnobs(b, m)
        var detokenizer = text ? try orFail { () throws(SwiftletError) in try m.detokenizer() } : nil
        let session = try orFail { () throws(SwiftletError) in
            // A latency budget plans from measured costs: measure them now, not inside the prefill.
            try m.makeSession(
                options: SessionOptions(
                    threads: threads, calibrate: budget.budgetMs != nil || budget.generationMs != nil))
        }
        let sampler = Sampler(temperature: temperature, topK: topK)
        let keepSpecial = self.keepSpecial
        let result = try orFail { () throws(SwiftletError) in
            try session.generate(
                prompt: prompt, maxTokens: maxTokens, sampler: sampler, seed: seed, budget: b
            ) { (token) throws(SwiftletError) -> Bool in
                guard detokenizer != nil else { return true }
                if !keepSpecial && m.isSpecialToken(token) { return false }
                FileHandle.standardOutput.write(Data(try detokenizer!.append(token).utf8))
                return true
            }
        }
        if var d = detokenizer {
            FileHandle.standardOutput.write(Data((d.finish() + "\n").utf8))
            detokenizer = d
        }
        let prefill = result.reports[0]
        note("prefill \(prompt.count) tokens: \(describe(prefill))")
        if let last = result.tokens.last, text, !keepSpecial, m.isSpecialToken(last) {
            note("stopped at special token \(last) after \(result.tokens.count - 1) tokens")
        } else if result.tokens.count < maxTokens {
            note(
                "stopped at the model's context length \(session.contextLength) after \(result.tokens.count) of \(maxTokens) tokens"
            )
        }
        for (i, token) in result.tokens.enumerated() where !text {
            if i + 1 < result.reports.count {
                print(String(format: "%d\t%.1f µs", token, result.reports[i + 1].microseconds))
            } else {
                print("\(token)")
            }
        }
        let decodes = result.reports.dropFirst()
        if !decodes.isEmpty {
            let mean = decodes.map(\.microseconds).reduce(0, +) / Double(decodes.count)
            note(
                String(
                    format: "ids: %@\nmean decode %.1f µs/token (%.1f tokens/s)",
                    result.tokens.map(String.init).joined(separator: ","), mean, 1e6 / mean))
        }
        if let deadline = b.generationMs {
            let total = result.reports.map(\.microseconds).reduce(0, +) / 1000
            let planned =
                prefill.values["planned_generation_us"]?.first.map { String(format: ", planned %.1f ms", $0 / 1000) }
                ?? ""
            note(
                String(
                    format: "whole generation %.1f ms against a deadline of %.1f ms (%@)%@", total, deadline,
                    total <= deadline ? "met" : "missed", planned))
        }
        if let limit = b.maxLatencyMs, !decodes.isEmpty {
            let times = decodes.map(\.microseconds).sorted()
            let p90 = times[min(times.count - 1, max(0, Int((0.9 * Double(times.count)).rounded(.up)) - 1))]
            let within = decodes.filter { $0.deadlineMet == true }.count
            note(
                String(
                    format:
                        "budget %.3f ms per token: %d of %d decode steps within it, p90 %.1f µs, planned p95 %.1f µs",
                    limit, within, decodes.count, p90, decodes.first!.predictedMicroseconds))
        }
    }
}
