import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure a model's latency distribution under one or more budgets.",
        usage: "swiftlet bench <model> [--budget <budget> ...] [<options>]",
        discussion: """
            Runs the model --runs times per budget after --warmup runs and prints min, median, p90, \
            p99, max and mean latency with what each budget chose. The input is --input, or random \
            values in the model's input shape with a batch of 1: a language model's full context \
            (its sequence length), an LMUFormer's clip length (frames), a ViT's image size. --shape \
            gives another shape, e.g. 4,3,224,224 for a batch of four images. Budgets: full, r=8, \
            r=8,-1, r=16,8,4, loops=4, trajectory=0.5,0.5, ms=20, gflops=1.5, and for a model with a \
            quality profile (swiftlet profile) quality=0.95 (keep 95 % of full quality); \
            `swiftlet inspect` lists the ones a model takes.

            With a latency budget (ms=B) the session is calibrated when it is made (unless \
            --no-calibrate), and the table adds the share of calls that ended within B, the time \
            the budget planned for (its p95 prediction, median over the calls) and how many calls \
            corrected their schedule on the way. To see what a fresh process does on its first \
            calls, give one ms= budget per process and --warmup 0.

            Examples:
              swiftlet bench deit.swl --budget r=0 --budget r=13 --budget ms=20
              swiftlet bench deit.swl --shape 8,3,224,224 --threads 2
              swiftlet bench lm.swl --shape 1,64 --budget loops=2 --budget loops=4
            """)

    @Argument(help: "The .swl model.")
    var model: String

    @Option(help: "Input .npy file (default: random values).")
    var input: String?

    @Option(
        help:
            "Shape of the random input, comma-separated (default: batch 1 and the model's sequence length, clip length or image size)."
    )
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
        for (spec, b) in zip(budget, budgets) { checkKnobs(b, m, spec: spec) }
        let latencyBudgets = budgets.contains { $0.maxLatencyMs != nil }
        let made = Date()
        let session = try orFail { () throws(SwiftletError) in
            try m.makeSession(options: SessionOptions(threads: threads, calibrate: latencyBudgets && !noCalibrate))
        }
        let madeMs = Date().timeIntervalSince(made) * 1000
        let array: NPYArray
        if let input {
            array = try readNPY(input, flag: "--input")
        } else {
            array = try randomInput(m, session)
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
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more, got \(threads)") }
        guard input == nil || shape == nil else {
            throw ValidationError("--shape is for the random input; --input brings its own shape")
        }
        for spec in budget { _ = try parseBudgetSpec(spec) }
        if let shape { _ = try parseList(shape, "--shape", Int.init) }
    }

    /// Random values in the model's first input shape: batch 1, and for the other dimensions of any
    /// size what the model declares (the context length of a language model, the clip length of an
    /// LMUFormer that has an audio front end); --shape overrides.
    private func randomInput(_ m: Model, _ session: Session) throws -> NPYArray {
        guard let info = m.inputs.first else { failAndExit("the model has no inputs") }
        var dims = info.shape
        if let shape {
            let given = try parseList(shape, "--shape", Int.init)
            guard given.count == dims.count, given.allSatisfy({ $0 >= 1 }),
                zip(dims, given).allSatisfy({ $0 < 0 || $0 == $1 })
            else {
                failAndExit(
                    "--shape \(shape) does not fit the model's input \(info.shapeDescription); give \(dims.count) sizes of at least 1, keeping the fixed ones"
                )
            }
            dims = given
        } else {
            for i in dims.indices where dims[i] < 0 {
                guard let size = defaultSize(info.dimensionNames[i], m, session) else {
                    let example = dims.indices.map { dims[$0] >= 0 ? String(dims[$0]) : $0 == 0 ? "1" : "100" }
                    failAndExit(
                        "this \(m.family) model does not say how many \(info.dimensionNames[i]) its input \(info.shapeDescription) has; give the shape, e.g. --shape \(example.joined(separator: ","))"
                    )
                }
                dims[i] = size
            }
        }
        let count = dims.reduce(1, *)
        var rng = SystemRandomNumberGenerator()
        if info.dtype == .i32 {
            return try NPYArray(int32s: (0..<count).map { _ in Int32.random(in: 0..<2, using: &rng) }, shape: dims)
        }
        return try NPYArray(floats: (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }, shape: dims)
    }

    /// The size a benchmark gives a dimension of any size when --shape does not: 1 for the batch, the
    /// context length for a sequence, the clip length of an audio model for frames.
    private func defaultSize(_ name: String, _ m: Model, _ session: Session) -> Int? {
        switch name {
        case "batch": return 1
        case "sequence": return session.contextLength > 0 ? session.contextLength : nil
        case "frames":
            if case .int(let frames)? = m.metadata[LMUFormerSchema.Key.targetFrames], frames > 0 { return Int(frames) }
            return nil
        default: return nil
        }
    }
}
