import ArgumentParser
import Foundation
import Swiftlet

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
    var b = Budget()
    switch key {
    case "r": b.mergeR = try parseList(value, "r", Int.init)
    case "loops": b.loops = try parseList(value, "loops", Int.init).first
    case "trajectory": b.trajectory = try parseList(value, "trajectory", Double.init)
    case "ms": b.maxLatencyMs = try parseList(value, "ms", Double.init).first
    case "gflops": b.maxGFLOPs = try parseList(value, "gflops", Double.init).first
    case "quality": b.minQuality = try parseList(value, "quality", Double.init).first
    default:
        throw ValidationError(
            "unknown budget key '\(key)' in '\(spec)' (use r, loops, trajectory, ms, gflops, quality)")
    }
    return b
}
