import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat

struct Profile: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure what each budget setting costs in quality, and store it in the model.",
        usage: "swiftlet profile <model> --data <data> --output <output> [<options>]",
        discussion: """
            Runs the model on held-out data at every setting of its budget knob and writes a copy \
            of the model whose metadata holds each setting's score (the "quality.*" keys, \
            Formats/swl.md). With such a profile, a latency or GFLOP budget picks the best-scoring \
            setting that fits, and a minimum quality (--min-quality, swl_budget.min_quality) the \
            cheapest that keeps it. On a terminal, a line on stderr shows how far each setting has \
            got.

              vit         --data images.npy (float32 [samples, 3, H, W], normalised as
                          the model expects, or uint8 RGB pictures [samples, height,
                          width, 3], preprocessed as --image is) and --labels
                          labels.npy (integers [samples]): top-1 accuracy. Without --labels: top-1
                          agreement with r=0. Settings: constant r from 0 to 16 and
                          the decreasing schedules (r,-1) for r = 2, 4, ..., 16,
                          unless --settings lists others.
              loopformer  --data ids.npy (integers [samples, sequence], token ids of
                          held-out text): perplexity of each next token. Settings:
                          loops=1 ... loops=max_model_loops, unless --settings lists
                          others (loops=L or trajectory=a,b,...).
              lmuformer   --data clips.npy (float32 feature frames [clips, frames,
                          features]) and --labels: top-1 of the stream's early
                          decision (the last row before it stops) after a fraction
                          of the frames; without --labels, agreement with the whole
                          clip. Settings: early_fraction=0.25, 0.375, ..., 1, unless
                          --settings lists others. A stream budget with a minimum
                          quality then decides as early as the profile allows.

            Example:
              swiftlet profile deit.swl --data val-images.npy \\
                  --labels val-labels.npy --output deit.swl
            """)

    @Argument(help: "The .swl model.")
    var model: String

    @Option(help: "Held-out inputs, .npy (see above).")
    var data: String

    @Option(help: "Labels for --data, .npy of integers (ViT, LMUFormer): scores are top-1 accuracy.")
    var labels: String?

    @Option(help: "Where to write the profiled model (may be the input file).")
    var output: String

    @Option(help: "Settings to measure, separated by ';', e.g. \"r=0;r=8;r=8,-1;r=16,8,4\" or \"loops=1;loops=4\".")
    var settings: String?

    @Option(help: "Inputs per call.")
    var batch: Int = 16

    @Option(help: "Compute threads (0 = all cores).")
    var threads: Int = 0

    @Option(help: "What --data is, stored with the profile (default: its file name).")
    var describe: String?

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more, got \(threads)") }
    }

    func run() throws {
        checkOutputPath(output, flag: "--output")
        let m = try openModel(model)
        let inputs = try readNPY(data, flag: "--data")
        let session = try orFail { () throws(SwiftletError) in
            try m.makeSession(options: SessionOptions(threads: threads))
        }
        let list = try settings.map { $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) } }
        let metric: QualitySchema.Metric
        var measured: [(String, Double)] = []
        switch m.family {
        case ViTSchema.family:
            let labelValues = try labels.map { try readLabelArray($0) }
            metric = labelValues == nil ? .agreement : .top1
            measured = try profileViT(m, session, inputs, labels: labelValues, settings: list)
        case LMUFormerSchema.family:
            let labelValues = try labels.map { try readLabelArray($0) }
            metric = labelValues == nil ? .agreement : .top1
            measured = try profileLMUFormer(m, inputs, labels: labelValues, settings: list)
        case LoopFormerSchema.family:
            guard labels == nil else {
                failAndExit("--labels is for ViT and LMUFormer models; a LoopFormer is scored by perplexity")
            }
            metric = .perplexity
            measured = try profileLoopFormer(m, session, inputs, settings: list)
        default:
            failAndExit(
                "profiles are made for vit, loopformer and lmuformer models, whose budget knob (merge rate, loop steps, early decision) changes quality; a \(m.family) model has none"
            )
        }
        if let full = measured.first, metric.higherIsBetter, full.1 <= 0 {
            failAndExit(
                "the full-quality setting \(full.0) scores 0 on this data, so no setting can be rated against it; use more data, or labels that belong to it"
            )
        }
        var writer: SWLWriter
        do {
            writer = try SWLWriter(copying: SWLFile(path: model))
        } catch {
            failAndExit("cannot copy \(model): \(error.message.replacingOccurrences(of: model + ": ", with: ""))")
        }
        writer.setMetadata(QualitySchema.Key.metric, .string(metric.rawValue))
        writer.setMetadata(QualitySchema.Key.settings, .strings(measured.map(\.0)))
        writer.setMetadata(QualitySchema.Key.scores, .floats(measured.map(\.1)))
        writer.setMetadata(QualitySchema.Key.samples, .int(Int64(inputs.shape.first ?? 0)))
        writer.setMetadata(QualitySchema.Key.data, .string(describe ?? URL(fileURLWithPath: data).lastPathComponent))
        writeReplacing(writer, to: output, suffix: ".profiling")
        note(
            "wrote \(output): \(measured.count) settings scored by \(metric.rawValue) on \(inputs.shape.first ?? 0) inputs"
        )
    }

    /// Integer class labels from a .npy file (--labels), one per sample.
    private func readLabelArray(_ path: String) throws -> [Int32] {
        let array = try readNPY(path, flag: "--labels")
        do { return try array.int32s() } catch { failAndExit("--labels \(path): \(error)") }
    }

    // MARK: ViT

    private func profileViT(
        _ m: Model, _ session: Session, _ inputs: NPYArray, labels: [Int32]?, settings: [String]?
    ) throws -> [(String, Double)] {
        let (images, shape) = try viTInputs(m, inputs)
        let n = shape[0]
        guard n >= 1 else { failAndExit("--data holds no images") }
        if let labels, labels.count != n { failAndExit("--labels has \(labels.count) entries for \(n) images") }
        let perImage = images.count / n
        let specs = settings ?? defaultViTSettings(m)
        var top1ByFull: [Int]? = nil
        var out: [(String, Double)] = []
        // r=0 first: it is the full quality the others are a fraction of, and agreement is measured
        // against its answers.
        for spec in ["r=0"] + specs.filter({ $0 != "r=0" }) {
            let budget = try parseBudgetSpec(spec)
            guard budget.mergeR != nil else { failAndExit("'\(spec)' is not a merge schedule (r=8, r=8,-1, r=16,8,4)") }
            var predictions: [Int] = []
            var start = 0
            while start < n {
                let count = min(batch, n - start)
                let slice = Array(images[(start * perImage)..<((start + count) * perImage)])
                let tensor = Tensor(shape: [count] + Array(shape[1...]), values: slice)
                ProgressLine.show("\(spec): image \(start + count)/\(n)")
                let (outputs, _) = try orFail { () throws(SwiftletError) in try session.run([tensor], budget: budget) }
                let classes = outputs[0].shape[1]
                for i in 0..<count {
                    let row = outputs[0].values[(i * classes)..<((i + 1) * classes)]
                    predictions.append(row.indices.max { row[$0] < row[$1] }! - i * classes)
                }
                start += count
            }
            if spec == "r=0" { top1ByFull = predictions }
            let reference = labels.map { $0.map(Int.init) } ?? top1ByFull!
            let score = Double(zip(predictions, reference).filter { $0 == $1 }.count) / Double(n)
            note("\(spec): \(labels == nil ? "agreement with r=0" : "top-1") \(String(format: "%.4f", score))")
            out.append((spec, score))
        }
        return out
    }

    /// `--data` as model inputs: float32 `[N, C, H, W]` as they are, or 8-bit RGB pictures
    /// `[N, height, width, 3]` through the model's own image preprocessing (what `run --image` does).
    private func viTInputs(_ m: Model, _ inputs: NPYArray) throws -> ([Float], [Int]) {
        guard let info = m.inputs.first else { failAndExit("the model declares no input") }
        let expected = Array(info.shape[1...])
        if inputs.dtype == .u8 {
            guard inputs.shape.count == 4, inputs.shape[3] == 3 else {
                failAndExit("--data of uint8 must be RGB pictures [samples, height, width, 3], got \(inputs.shape)")
            }
            let (n, h, w) = (inputs.shape[0], inputs.shape[1], inputs.shape[2])
            var values: [Float] = []
            for i in 0..<n {
                let pixels = Array(inputs.bytes[(i * h * w * 3)..<((i + 1) * h * w * 3)])
                let tensor = try orFail { () throws(SwiftletError) in
                    try m.preprocess(RGB8Image(width: w, height: h, pixels: pixels))
                }
                values += tensor.values
            }
            return (values, [n] + expected)
        }
        guard inputs.shape.count == 4, Array(inputs.shape[1...]) == expected else {
            failAndExit(
                "--data must be float32 images [samples, \(expected.map(String.init).joined(separator: ", "))] or uint8 RGB pictures [samples, height, width, 3], got \(inputs.shape)"
            )
        }
        return (try inputs.floats(), inputs.shape)
    }

    private func defaultViTSettings(_ m: Model) -> [String] {
        (0...16).map { "r=\($0)" } + stride(from: 2, through: 16, by: 2).map { "r=\($0),-1" }
    }

    // MARK: LMUFormer

    private func profileLMUFormer(
        _ m: Model, _ inputs: NPYArray, labels: [Int32]?, settings: [String]?
    ) throws -> [(String, Double)] {
        guard inputs.shape.count == 3, inputs.shape[0] >= 1, inputs.shape[1] >= 1 else {
            failAndExit("--data must be float32 feature frames [clips, frames, features], got \(inputs.shape)")
        }
        let (n, t, f) = (inputs.shape[0], inputs.shape[1], inputs.shape[2])
        if let labels, labels.count != n { failAndExit("--labels has \(labels.count) entries for \(n) clips") }
        let frames = try inputs.floats()
        let specs = settings ?? [0.25, 0.375, 0.5, 0.625, 0.75, 0.875].map { "early_fraction=\($0)" }
        let stream = try orFail { () throws(SwiftletError) in try m.makeStream(options: StreamOptions(threads: threads))
        }
        var full: [Int]? = nil
        var out: [(String, Double)] = []
        // The whole clip first: it is the full quality, and agreement is measured against it.
        for spec in ["early_fraction=1"] + specs.filter({ $0 != "early_fraction=1" }) {
            guard spec.hasPrefix("early_fraction="), let fraction = Double(spec.dropFirst(15)), fraction > 0,
                fraction <= 1
            else {
                failAndExit("'\(spec)' is not an LMUFormer setting (early_fraction=F with F in (0, 1])")
            }
            var decisions: [Int] = []
            for clip in 0..<n {
                ProgressLine.show("\(spec): clip \(clip + 1)/\(n)")
                let rows = try orFail { () throws(SwiftletError) in
                    try stream.reset()
                    try stream.setBudget(Budget(earlyFraction: fraction < 1 ? fraction : nil, expectedFrames: t))
                    let chunk = Array(frames[(clip * t * f)..<((clip + 1) * t * f)])
                    return try stream.push(chunk) + stream.flush()
                }
                guard let last = rows.last else { failAndExit("the stream gave no output for clip \(clip)") }
                decisions.append(last.indices.max { last[$0] < last[$1] }!)
            }
            if fraction == 1 { full = decisions }
            let reference = labels.map { $0.map(Int.init) } ?? full!
            let score = Double(zip(decisions, reference).filter { $0 == $1 }.count) / Double(n)
            note(
                "\(spec): \(labels == nil ? "agreement with the whole clip" : "top-1") \(String(format: "%.4f", score))"
            )
            out.append((spec, score))
        }
        return out
    }

    // MARK: LoopFormer

    private func profileLoopFormer(
        _ m: Model, _ session: Session, _ inputs: NPYArray, settings: [String]?
    ) throws -> [(String, Double)] {
        guard inputs.shape.count == 2, inputs.shape[0] >= 1, inputs.shape[1] >= 2 else {
            failAndExit(
                "--data must be token ids [samples, sequence] with a sequence of at least 2, got \(inputs.shape)")
        }
        let ids = try inputs.int32s()
        let (n, t) = (inputs.shape[0], inputs.shape[1])
        let maxLoops: Int
        if case .int(let v)? = m.metadata[LoopFormerSchema.Key.maxLoops] { maxLoops = Int(v) } else { maxLoops = 1 }
        let specs = settings ?? (1...max(maxLoops, 1)).map { "loops=\($0)" }
        var out: [(String, Double)] = []
        // The full trajectory first: it is the full quality the others are a fraction of.
        for spec in ["loops=\(maxLoops)"] + specs.filter({ $0 != "loops=\(maxLoops)" }) {
            let budget = try parseBudgetSpec(spec)
            guard budget.loops != nil || budget.trajectory != nil else {
                failAndExit("'\(spec)' is not a LoopFormer setting (loops=L or trajectory=a,b,...)")
            }
            var nll = 0.0
            var count = 0
            var start = 0
            while start < n {
                let rows = min(batch, n - start)
                ProgressLine.show("\(spec): sequence \(start + rows)/\(n)")
                let view = try NPYArray(int32s: Array(ids[(start * t)..<((start + rows) * t)]), shape: [rows, t])
                let logits = try orFail { () throws(SwiftletError) in
                    try view.withView(for: m) { (v) throws(SwiftletError) in
                        try session.run(views: [v], budget: budget)
                        return try session.lastOutputs[0]
                    }
                }
                let vocab = logits.shape[2]
                logits.values.withUnsafeBufferPointer { l in
                    for r in 0..<rows {
                        for p in 0..<(t - 1) {
                            let row = l.baseAddress! + (r * t + p) * vocab
                            var top = -Float.infinity
                            for v in 0..<vocab { top = max(top, row[v]) }
                            var sum = 0.0
                            for v in 0..<vocab { sum += Double(expf(row[v] - top)) }
                            let target = Int(ids[(start + r) * t + p + 1])
                            nll += log(sum) + Double(top) - Double(row[target])
                            count += 1
                        }
                    }
                }
                start += rows
            }
            let perplexity = exp(nll / Double(count))
            note("\(spec): perplexity \(String(format: "%.4f", perplexity))")
            out.append((spec, perplexity))
        }
        return out
    }
}
