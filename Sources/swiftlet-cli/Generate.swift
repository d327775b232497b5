import ArgumentParser
import Foundation
import Swiftlet

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate tokens with a language model (LoopFormer, MemoryFormer) through its KV cache.",
        discussion: """
            Prefills the prompt, then decodes one token at a time, printing each new id with its time.
            Greedy by default; --temperature with optional --top-k samples, reproducibly for a --seed.

            Example:
              swiftlet generate lm.swl --prompt-ids 1,2,3 --max-tokens 20 --loops 4 --temperature 0.8 --top-k 40 --seed 7
            """)

    @Argument(help: "The .swl language model.")
    var model: String

    @Option(name: .customLong("prompt-ids"), help: "Comma-separated prompt token ids.")
    var promptIds: String

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

    func run() throws {
        let prompt = try parseList(promptIds, "--prompt-ids", Int32.init)
        let m = try openModel(model)
        let session = try orFail { () throws(SwiftletError) in
            // A latency budget plans from measured costs: measure them now, not inside the prefill.
            try m.makeSession(
                options: SessionOptions(
                    threads: threads, calibrate: budget.budgetMs != nil || budget.generationMs != nil))
        }
        let b = try budget.budget()
        let sampler = Sampler(temperature: temperature, topK: topK)
        let result = try orFail { () throws(SwiftletError) in
            try session.generate(prompt: prompt, maxTokens: maxTokens, sampler: sampler, seed: seed, budget: b)
        }
        let prefill = result.reports[0]
        note("prefill \(prompt.count) tokens: \(describe(prefill))")
        for (i, token) in result.tokens.enumerated() {
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
