import ArgumentParser
import Foundation
import Swiftlet
import SwiftletModels

/// Budget flags shared by run, generate and bench.
struct BudgetOptions: ParsableArguments {
    @Option(
        name: .customLong("budget-ms"),
        help:
            "Latency budget per call (per token for language models), in milliseconds. The model picks the best setting predicted to fit."
    )
    var budgetMs: Double?

    @Option(name: .customLong("budget-gflops"), help: "Work budget per call (per token for language models), in GFLOP.")
    var budgetGFLOPs: Double?

    @Option(help: "LoopFormer: number of loop steps.")
    var loops: Int?

    @Option(help: "LoopFormer: explicit step sizes summing to 1, e.g. 0.375,0.375,0.25.")
    var trajectory: String?

    @Option(
        name: .customLong("generation-ms"),
        help:
            "LoopFormer: a deadline for the whole generation (prefill and every decoded token), in milliseconds; the trajectory is chosen to fit it."
    )
    var generationMs: Double?

    @Option(
        name: .customLong("min-quality"),
        help:
            "Models with a quality profile (swiftlet profile): the least quality to keep, a fraction of full quality (e.g. 0.95); the cheapest profiled setting that keeps it is chosen."
    )
    var minQuality: Double?

    @Option(
        name: .customLong("merge-r"),
        help: "Token merging: r (constant), r,-1 (decreasing) or a per-layer list like 16,8,4.")
    var mergeR: String?

    func validate() throws {
        if let v = budgetMs, !(v.isFinite && v > 0) {
            throw ValidationError("--budget-ms must be a positive number of milliseconds, got \(v)")
        }
        if let v = budgetGFLOPs, !(v.isFinite && v > 0) {
            throw ValidationError("--budget-gflops must be a positive number, got \(v)")
        }
        if let v = loops, v < 1 { throw ValidationError("--loops must be at least 1, got \(v)") }
        if let v = generationMs, !(v.isFinite && v > 0) {
            throw ValidationError("--generation-ms must be a positive number of milliseconds, got \(v)")
        }
        if let v = minQuality, !(v > 0 && v <= 1) {
            throw ValidationError("--min-quality must be a fraction in (0, 1] of full quality, got \(v)")
        }
        _ = try budget()
    }

    func budget() throws -> Budget {
        var b = Budget()
        b.maxLatencyMs = budgetMs
        b.maxGFLOPs = budgetGFLOPs
        b.loops = loops
        b.minQuality = minQuality
        b.generationMs = generationMs
        if let trajectory { b.trajectory = try parseList(trajectory, "--trajectory", Double.init) }
        if let mergeR { b.mergeR = try parseList(mergeR, "--merge-r", Int.init) }
        return b
    }
}

func parseList<T>(_ text: String, _ flag: String, _ parse: (String) -> T?) throws -> [T] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    var out: [T] = []
    for p in parts {
        guard let v = parse(p) else {
            throw ValidationError("\(flag): '\(p)' is not a number (expected a comma-separated list)")
        }
        out.append(v)
    }
    guard !out.isEmpty else { throw ValidationError("\(flag) needs at least one value") }
    return out
}

/// A budget written as one word for `bench --budget`: r=8, r=8,-1, loops=4, ms=20, gflops=1.5,
/// quality=0.95, full.
func parseBudgetSpec(_ spec: String) throws -> Budget {
    if spec == "full" { return Budget() }
    guard let eq = spec.firstIndex(of: "=") else {
        throw ValidationError(
            "budget '\(spec)' must look like r=8, r=8,-1, loops=4, trajectory=0.5,0.5, ms=20, gflops=1.5, quality=0.95 or full"
        )
    }
    let key = String(spec[..<eq])
    let value = String(spec[spec.index(after: eq)...])
    let flag = "--budget \(spec)"
    var b = Budget()
    switch key {
    case "r": b.mergeR = try parseList(value, flag, Int.init)
    case "loops": b.loops = try parseList(value, flag, Int.init).first
    case "trajectory": b.trajectory = try parseList(value, flag, Double.init)
    case "ms": b.maxLatencyMs = try parseList(value, flag, Double.init).first
    case "gflops": b.maxGFLOPs = try parseList(value, flag, Double.init).first
    case "quality": b.minQuality = try parseList(value, flag, Double.init).first
    default:
        throw ValidationError(
            "unknown budget key '\(key)' in '\(spec)' (use r, loops, trajectory, ms, gflops, quality)")
    }
    do { try b.validateCommon() } catch { throw ValidationError("\(flag): \(error.message)") }
    return b
}

extension Model {
    /// Whether `generate` runs the model: a language model (or the test model's toy one).
    var generates: Bool { sessionKnobs.contains(.generationTokens) }
}

/// A budget knob as the command line names it: the flag of run, generate and stream, the key of
/// `bench --budget` (nil where the command line has none), and what it does.
struct KnobFlag {
    let flag: String?
    let benchKey: String?
    let meaning: String
}

extension BudgetKnob {
    /// nil for knobs the command line sets itself (generate's token count, a stream's frame count).
    func commandLine(stream: Bool, languageModel: Bool) -> KnobFlag? {
        let per = languageModel ? "per call (per token in generate)" : "per call"
        switch self {
        case .maxLatencyMs:
            return stream ? nil : KnobFlag(flag: "--budget-ms", benchKey: "ms=", meaning: "latency limit \(per), ms")
        case .maxGFLOPs:
            return stream
                ? nil : KnobFlag(flag: "--budget-gflops", benchKey: "gflops=", meaning: "work limit \(per), GFLOP")
        case .loops: return KnobFlag(flag: "--loops", benchKey: "loops=", meaning: "loop steps")
        case .trajectory:
            return KnobFlag(flag: "--trajectory", benchKey: "trajectory=", meaning: "loop step sizes summing to 1")
        case .mergeR:
            return KnobFlag(
                flag: "--merge-r", benchKey: "r=", meaning: "tokens merged per block: r, r,-1 or one r per block")
        case .minQuality:
            return KnobFlag(
                flag: "--min-quality", benchKey: stream ? nil : "quality=",
                meaning: stream
                    ? "decide as early as the quality profile allows" : "least quality kept, a fraction of full")
        case .generationMs:
            return KnobFlag(flag: "--generation-ms", benchKey: nil, meaning: "deadline for a whole generation, ms")
        case .earlyMargin:
            return stream
                ? KnobFlag(flag: "--early-margin", benchKey: nil, meaning: "decide once top-1 minus top-2 exceeds it")
                : nil
        case .earlyFraction, .expectedFrames, .generationTokens: return nil
        }
    }
}

/// Exits with a one-line error, in command-line terms, if `budget` sets a knob the model does not
/// take. `bench` names the `--budget` word (`spec`); run and generate name flags.
func checkKnobs(_ budget: Budget, _ model: Model, stream: Bool = false, spec: String? = nil) {
    let accepted = stream ? model.streamKnobs : model.sessionKnobs
    let refused = budget.knobs.subtracting(accepted)
    guard !refused.isEmpty else { return }
    let lm = model.generates
    func name(_ k: BudgetKnob) -> String {
        let c = k.commandLine(stream: stream, languageModel: lm)
        return (spec != nil ? c?.benchKey : c?.flag) ?? k.name
    }
    let takes = accepted.sorted().compactMap { k -> String? in
        let c = k.commandLine(stream: stream, languageModel: lm)
        return spec != nil ? c?.benchKey : c?.flag
    }
    let what = spec.map { "--budget \($0)" } ?? refused.sorted().map(name).joined(separator: ", ")
    let verb = spec == nil && refused.count > 1 ? "do" : "does"
    failAndExit(
        "\(what) \(verb) not apply to a \(model.family) \(stream ? "stream" : "model"); it takes \(takes.isEmpty ? "no budget" : takes.joined(separator: ", "))"
    )
}
