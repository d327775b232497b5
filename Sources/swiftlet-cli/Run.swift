import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on .npy inputs, or an image classifier on an image file.",
        discussion: """
            With --input, the input is one .npy array in the model's input layout (float32 images \
            [batch, 3, H, W] for ViTs, feature frames [batch, frames, features] for LMUFormer, int32 \
            or int64 token ids [batch, sequence] for the language models; `swiftlet inspect` shows a \
            model's inputs). With --output the first output is written there as .npy, and the others, \
            where the model has them, to the named flags. Without --output a summary is printed: for \
            a classifier the --top classes of each input with their softmax scores (score, class \
            index, name), for other models each output's shape and first values.

            With --image, a ViT converted with --preprocess (and --labels for names) classifies a PNG \
            or JPEG file: the file is decoded as timm's loader decodes it (Pillow's convert("RGB"): \
            alpha dropped, grey and palette images made RGB, 16-bit PNG samples reduced to 8 bits; \
            EXIF orientation ignored; CMYK JPEG and 16-bit grey PNG refused), preprocessed as the \
            model's image.* metadata says (timm's eval transform: resize, centre crop, mean/std), and \
            the --top classes are printed. --output (the logits) and --save-input (the preprocessed \
            [1, 3, H, W] tensor) are optional. A damaged image is an error naming the file.

            The run report (what the budget chose, work, time) is printed on stderr.

            Examples:
              swiftlet run deit.swl --image photo.jpg --top 5
              swiftlet run deit.swl --input images.npy --merge-r 8,-1
              swiftlet run deit.swl --input images.npy --output logits.npy --merge-r 8
              swiftlet run lm.swl --input ids.npy --output logits.npy --loops 3
              swiftlet run lm.swl --input ids.npy --output logits.npy --budget-ms 5
            """)

    @Argument(help: "The .swl model.")
    var model: String

    @Option(help: "Input .npy file.")
    var input: String?

    @Option(help: "An image file (PNG or JPEG) for an image classifier converted with --preprocess.")
    var image: String?

    @Option(help: "Classifiers: how many classes to print per input, most likely first.")
    var top: Int = 5

    @Option(help: "Where to write the first output (.npy); without it a summary is printed.")
    var output: String?

    @Option(
        name: .customLong("save-input"),
        help: "With --image: where to write the model input the image became, float32 [1, 3, H, W] (.npy).")
    var saveInput: String?

    @Option(name: .customLong("per-step"), help: "LMUFormer: where to write the prediction after every frame (.npy).")
    var perStep: String?

    @Option(name: .customLong("tokens-output"), help: "ViT: where to write the final tokens (.npy).")
    var tokensOutput: String?

    @Option(
        name: .customLong("sizes-output"),
        help: "ViT: where to write how many patches each final token stands for (.npy).")
    var sizesOutput: String?

    @Option(help: "Compute threads (0 = all cores).")
    var threads: Int = 0

    @OptionGroup var budget: BudgetOptions

    func validate() throws {
        guard (input == nil) != (image == nil) else {
            throw ValidationError("give either --input (a .npy array) or --image (a PNG or JPEG file)")
        }
        if input != nil {
            guard saveInput == nil else { throw ValidationError("--save-input is for --image") }
        }
        guard top >= 1 else { throw ValidationError("--top must be at least 1, got \(top)") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more, got \(threads)") }
    }

    func run() throws {
        let outputs: [(String?, String)] = [
            (output, "--output"), (saveInput, "--save-input"), (perStep, "--per-step"),
            (tokensOutput, "--tokens-output"), (sizesOutput, "--sizes-output"),
        ]
        for case (let path?, let flag) in outputs { checkOutputPath(path, flag: flag) }
        let m = try openModel(model)
        let b = try budget.budget()
        checkKnobs(b, m)
        let session = try orFail { () throws(SwiftletError) in
            try m.makeSession(options: SessionOptions(threads: threads))
        }
        let report: RunReport
        if let image {
            // The model is checked before the file is read: a model without preprocessing is the
            // likelier mistake, and its message says how to fix it.
            _ = try orFail { () throws(SwiftletError) in try m.imageInputShape }
            let pixels = readImage(image)
            report = try orFail { () throws(SwiftletError) in try session.run(image: pixels, budget: b).report }
            if let saveInput {
                try writeNPY(try orFail { () throws(SwiftletError) in try m.preprocess(pixels) }, to: saveInput)
            }
        } else {
            let array = try readNPY(input!, flag: "--input")
            report = try orFail { () throws(SwiftletError) in
                try array.withView(for: m) { (v) throws(SwiftletError) in try session.run(views: [v], budget: b) }
            }
        }
        let results = try orFail { () throws(SwiftletError) in try session.lastOutputs }
        if let output { try writeNPY(results[0], to: output) }
        let extra: [(String?, String, String)] = [
            (perStep, "logits_per_step", "--per-step"), (tokensOutput, "tokens", "--tokens-output"),
            (sizesOutput, "sizes", "--sizes-output"),
        ]
        for (path, name, flag) in extra {
            guard let path else { continue }
            guard let i = m.outputs.firstIndex(where: { $0.name == name }), i < results.count else {
                failAndExit("\(flag): this \(m.family) model has no '\(name)' output")
            }
            try writeNPY(results[i], to: path)
        }
        if image != nil || output == nil {
            if let classes = m.classCount, let first = results.first, first.shape.last == classes {
                printTop(first, labels: m.labels)
            } else {
                printSummary(results, m.outputs)
            }
        }
        note(describe(report))
    }

    /// The `top` most likely classes of each row of a classifier's logits [batch, classes]: softmax
    /// score, class index, name; rows of a batch are headed by their index.
    func printTop(_ logits: Tensor, labels: [String]) {
        let classes = logits.shape.last ?? 1
        let rows = logits.values.count / max(classes, 1)
        for row in 0..<rows {
            if rows > 1 { print("input \(row):") }
            let values = logits.values[(row * classes)..<((row + 1) * classes)].map(Double.init)
            let peak = values.max() ?? 0
            let e = values.map { exp($0 - peak) }
            let sum = e.reduce(0, +)
            let ranked = e.indices.sorted { e[$0] != e[$1] ? e[$0] > e[$1] : $0 < $1 }
            for i in ranked.prefix(top) {
                let name = i < labels.count ? labels[i] : "class \(i)"
                print(String(format: "%@%.4f  %5d  %@", rows > 1 ? "  " : "", e[i] / sum, i, name))
            }
        }
    }

    /// Each output's name, shape and first values (models that are not classifiers).
    func printSummary(_ results: [Tensor], _ infos: [TensorInfo]) {
        for (i, t) in results.enumerated() {
            let name = i < infos.count ? infos[i].name : "output \(i)"
            let shown = t.values.prefix(6).map { String(format: "%.4g", $0) }.joined(separator: ", ")
            print("\(name) \(t.shape): \(shown)\(t.values.count > 6 ? ", … (\(t.values.count) values)" : "")")
        }
    }
}

func describe(_ r: RunReport) -> String {
    var parts = [
        "chose \(r.choice.isEmpty ? "full model" : r.choice)",
        String(format: "%.1f µs", r.microseconds), String(format: "%.4f GFLOP", r.gflops),
    ]
    if r.loops > 0 { parts.append("loops \(r.loops)") }
    if r.tokensKept > 0 { parts.append("tokens kept \(r.tokensKept)") }
    if r.framesUsed > 0 { parts.append("frames \(r.framesUsed)") }
    if !r.completed { parts.append(r.decided ? "decided early" : "stopped early") }
    if r.predictedMicroseconds > 0 { parts.append(String(format: "planned %.1f µs (p95)", r.predictedMicroseconds)) }
    if let met = r.deadlineMet { parts.append(met ? "within the budget" : "over the budget") }
    if let q = r.predictedQuality { parts.append(String(format: "profiled quality %.3f of full", q)) }
    if let us = r.values["calibration_us"]?.first { parts.append(String(format: "calibrated in %.1f ms", us / 1000)) }
    return parts.joined(separator: ", ")
}

func openModel(_ path: String) throws -> Model {
    try orFail { () throws(SwiftletError) in try Model(path: path) }
}

/// Runs a Swift API call; an error becomes a one-line message and a non-zero exit.
func orFail<T>(_ body: () throws(SwiftletError) -> T) throws -> T {
    do {
        return try body()
    } catch {
        failAndExit(error.message)
    }
}

/// Reads a .npy file; a failure is one line naming the file once (and the flag that gave it).
func readNPY(_ path: String, flag: String? = nil) throws -> NPYArray {
    checkInputPath(path, flag: flag)
    do {
        return try NPYArray(path: path)
    } catch {
        // NPYArray's messages start with the path.
        failAndExit(flag.map { "\($0) \(error)" } ?? "\(error)")
    }
}

func writeNPY(_ t: Tensor, to path: String) throws {
    do {
        try NPYArray(floats: t.values, shape: t.shape).write(to: path)
    } catch {
        failAndExit("\(error)")
    }
}

extension NPYArray {
    /// Lends the array as a view in the dtype the model's first input wants (ids become int32).
    func withView<R>(for model: Model, _ body: (TensorView) throws(SwiftletError) -> R) throws(SwiftletError) -> R {
        let want = model.inputs.first?.dtype ?? .f32
        let bytes: [UInt8]
        do {
            switch want {
            case .i32: bytes = try int32s().withUnsafeBytes { Array($0) }
            default: bytes = try floats().withUnsafeBytes { Array($0) }
            }
        } catch {
            throw .shape("the input array cannot be used as \(want): \(error)")
        }
        let result: Result<R, SwiftletError> = bytes.withUnsafeBytes { raw in
            Result { () throws(SwiftletError) in
                try body(
                    TensorView(dtype: want, shape: shape, data: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!))
            }
        }
        return try result.get()
    }
}
