import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's latency distribution under one or more budgets.",
        discussion: """
            Runs the model --runs times per budget after --warmup runs and prints min, median, p90, p99, max
            and mean latency with what each budget chose. The input is --input, or random values in the
            model's input shape (--shape fills the dimensions the model leaves free, e.g. 1,3,224,224).
            Budgets: full, r=8, r=8,-1, r=16,8,4, loops=4, trajectory=0.5,0.5, ms=20, gflops=1.5, and for a
            model with a quality profile (swiftlet profile) quality=0.95 (keep 95 % of full quality).

            With a latency budget (ms=B) the session is calibrated when it is made (unless --no-calibrate),
            and the table adds the share of calls that ended within B, the time the budget planned for
            (its p95 prediction, median over the calls) and how many calls corrected their schedule on
            the way. To see what a fresh process does on its first calls, give one ms= budget per process
            and --warmup 0.

            Example:
              swiftlet bench deit.swl --shape 1,3,224,224 --budget r=0 --budget r=13 --budget ms=20 --threads 2
            """)

    @Argument(help: "The .swl model.")
    var model: String

    @Option(help: "Input .npy file (default: random values).")
    var input: String?

    @Option(help: "Input shape for random input, comma-separated.")
    var shape: String?

    @Option(help: "A budget to measure (repeatable).")
    var budget: [String] = ["full"]

    @Option(help: "Measured runs per budget.")
    var runs: Int = 20

    @Option(help: "Warm-up runs per budget.")
    var warmup: Int = 3

    @Option(help: "Compute threads (0 = all cores).")
    var threads: Int = 0

    @Flag(help: "Do not calibrate the session when it is made: the first latency-budgeted call measures the costs.")
    var noCalibrate = false

    func run() throws {
        let m = try openModel(model)
        let budgets = try budget.map(parseBudgetSpec)
        let latencyBudgets = budgets.contains { $0.maxLatencyMs != nil }
        let made = Date()
        let session = try orFail { () throws(SwiftletError) in
            try m.makeSession(options: SessionOptions(threads: threads, calibrate: latencyBudgets && !noCalibrate))
        }
        let madeMs = Date().timeIntervalSince(made) * 1000
        let array: NPYArray
        if let input {
            array = try readNPY(input)
        } else {
            array = try randomInput(m)
        }
        print(
            "model \(model) (\(m.family)), input \(array.shape), \(threads == 0 ? "all cores" : "\(threads) thread(s)"), \(runs) runs after \(warmup) warm-up"
        )
        if latencyBudgets && !noCalibrate {
            print(String(format: "session made and calibrated in %.1f ms", madeMs))
        }
        var rows = [["budget", "chose", "GFLOP", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms"]]
        var qualities: [String] = []
        if latencyBudgets { rows[0] += ["within B", "planned ms", "corrected"] }
        for (spec, b) in zip(budget, budgets) {
            var times: [Double] = []
            var planned: [Double] = []
            var met = 0
            var corrected = 0
            var choices: [String: Int] = [:]
            var last = RunReport()
            for i in 0..<(warmup + runs) {
                let r = try orFail { () throws(SwiftletError) in
                    try array.withView(for: m) { (v) throws(SwiftletError) in try session.run(views: [v], budget: b) }
                }
                if i >= warmup {
                    times.append(r.microseconds / 1000)
                    planned.append(r.predictedMicroseconds / 1000)
                    if r.deadlineMet == true { met += 1 }
                    if r.values["corrected_after_block"] != nil { corrected += 1 }
                    choices[r.choice.split(separator: ",").first.map(String.init) ?? r.choice, default: 0] += 1
                }
                last = r
            }
            times.sort()
            planned.sort()
            // Nearest rank: the smallest time with at least q of the calls at or below it.
            let pick = { (q: Double) in
                times[min(times.count - 1, max(0, Int((q * Double(times.count)).rounded(.up)) - 1))]
            }
            // The setting most calls chose (the first word of the choice; a correction adds the rest).
            let chose = choices.count <= 1 ? last.choice : choices.max { $0.value < $1.value }!.key + " (mostly)"
            var row = [
                spec, chose, String(format: "%.3f", last.gflops), String(format: "%.3f", times[0]),
                String(format: "%.3f", pick(0.5)), String(format: "%.3f", pick(0.9)),
                String(format: "%.3f", pick(0.99)),
                String(format: "%.3f", times[times.count - 1]),
                String(format: "%.3f", times.reduce(0, +) / Double(times.count)),
            ]
            if latencyBudgets {
                row +=
                    b.maxLatencyMs == nil
                    ? ["-", "-", "-"]
                    : [
                        String(format: "%.0f %%", 100 * Double(met) / Double(times.count)),
                        String(format: "%.3f", planned[planned.count / 2]), "\(corrected)",
                    ]
            }
            rows.append(row)
            qualities.append(last.predictedQuality.map { String(format: "%.3f", $0) } ?? "-")
        }
        if qualities.contains(where: { $0 != "-" }) {
            // The model carries a quality profile: the profiled quality of what each budget chose.
            rows[0].append("quality")
            for i in qualities.indices { rows[i + 1].append(qualities[i]) }
        }
        printTable(rows)
    }

    func validate() throws {
        guard runs >= 1, warmup >= 0 else { throw ValidationError("--runs must be ≥ 1 and --warmup ≥ 0") }
    }

    private func randomInput(_ m: Model) throws -> NPYArray {
        guard let info = m.inputs.first else { failAndExit("the model has no inputs") }
        var dims = info.shape
        if let shape {
            let given = try parseList(shape, "--shape", Int.init)
            guard given.count == dims.count else { failAndExit("--shape needs \(dims.count) dimensions") }
            for i in dims.indices where dims[i] < 0 || dims[i] == given[i] { dims[i] = given[i] }
            guard dims == given else { failAndExit("--shape \(given) does not fit the model's input \(info.shape)") }
        } else if dims.contains(where: { $0 < 0 }) {
            failAndExit("the input shape \(info.shape) has free dimensions; give them with --shape")
        }
        let count = dims.reduce(1, *)
        var rng = SystemRandomNumberGenerator()
        if info.dtype == .i32 {
            return try NPYArray(int32s: (0..<count).map { _ in Int32.random(in: 0..<2, using: &rng) }, shape: dims)
        }
        return try NPYArray(floats: (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }, shape: dims)
    }
}
