import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import SwiftletKernels
import SwiftletModels

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract:
            "Store an existing model's weight matrices in a compact type (f16, bf16, q8, q4), no checkpoint needed.",
        usage: """
            swiftlet quantize <model> --dtype <dtype> --output <output> \\
              [--input <input>] [--force]
            """,
        discussion: """
            Writes a copy of the model whose weight matrices are stored as --dtype and keeps \
            everything else as it was: the other tensors, metadata, tokenizer and labels. Which \
            matrices may be compact, and in which types, is the family's to say: only types its \
            loader uses in place (never widened to float32 at load) are offered.

              loopformer    f16, bf16, q8   token embedding (tied LM head), block matrices
              lmuformer     f16, bf16, q8   convolutions, block matrices, head
              memoryformer  f16, q8         hash tables (memoryformer.table_dtype follows),
                                            embedding and LM head
                            bf16            embedding and LM head (tables as they are)
                            q4              hash tables (embedding and head as they are)
              vit           bf16, q8        patch embedding, block matrices, heads:
                                            f32 panels repacked as bf16 pair panels or
                                            int8 quad panels + row scales
                                            (vit.weight_layout follows; f32 input only)

            From an f32 file the result is byte for byte what `swiftlet convert --dtype` \
            writes from the checkpoint (memoryformer f16, q8: --dtype X --table-dtype X; q4: \
            --table-dtype q4).

            q8 is int8 with one float32 scale per row (q8_row), q4 int4 with one per block of 32 \
            values (q4_block). A quality profile (`swiftlet \
            profile`) scores the weights it was measured with, so it is left out of the copy (a note \
            says so): profile the quantized model again to budget it by quality.

            Then both models run on a calibration input, --input (a .npy array in the model's input \
            layout), or one generated from a fixed seed (token ids of the vocabulary, 64 positions \
            for a language model; feature frames in [-1, 1] for an LMUFormer), and the deviation is \
            printed per output: max |Δ|, max |Δ| divided by the largest |value| of the original \
            output (its scale), and the share of rows whose largest value (top-1 class, most likely \
            next token) is at the same index.

            Refused, with the reason: a type the family cannot use in place; weights already stored \
            in that type or a less precise one (f32 > f16 > bf16 > q8 > q4: rounding rounded values again \
            claims precision they no longer have); q8 or q4 of non-finite weights; an --output that is the \
            input or exists (without --force).

            Examples:
              swiftlet quantize lm.swl --dtype bf16 --output lm-bf16.swl
              swiftlet quantize kws.swl --dtype f16 --output kws-f16.swl \\
                  --input clips.npy
            """)

    @Argument(help: "The .swl model to quantize.")
    var model: String

    @Option(
        help:
            "Storage type of the weight matrices: f16, bf16, q8 (int8, one scale per row) or q4 (int4, one scale per block of 32; MemoryFormer tables)."
    )
    var dtype: String

    @Option(help: "Where to write the quantized .swl file (not the input).")
    var output: String

    @Option(help: "Calibration input (.npy in the model's input layout); default: generated from a fixed seed.")
    var input: String?

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    func validate() throws {
        let known = ["f16", "float16", "half", "bf16", "bfloat16", "q8", "int8", "q4", "int4", "q4_block"]
        guard known.contains(dtype.lowercased()) else {
            throw ValidationError(
                "--dtype must be f16, bf16, q8 or q4, got '\(dtype)'\(dtype.lowercased().hasPrefix("f32") || dtype.lowercased() == "float32" ? " (quantize makes weights compact; convert the checkpoint again for f32)" : "")"
            )
        }
    }

    func run() throws {
        checkInputPath(model, flag: nil)
        checkOutputPath(output, flag: "--output")
        if let input { checkInputPath(input, flag: "--input") }
        if let a = realpath(model, nil), let b = realpath(output, nil) {
            defer {
                free(a)
                free(b)
            }
            if strcmp(a, b) == 0 {
                failAndExit(
                    "--output \(output) is the input model; give another file (both are run to measure the deviation)")
            }
        }
        if FileManager.default.fileExists(atPath: output) && !force {
            failAndExit("--output \(output) exists; give --force to overwrite it")
        }
        let target = try parseDType(dtype, "--dtype", allowQ8: true, allowQ4: true)
        let file: SWLFile
        do { file = try SWLFile(path: model) } catch { failAndExit(error.message) }
        guard let family = file.family else {
            failAndExit("\(model) has no 'general.family' metadata; convert it again with `swiftlet convert`")
        }
        guard let rule = FamilyRegistry.compactWeights(family: family) else {
            failAndExit("a \(family) model has no weight matrices that quantize can make compact")
        }
        let writer: SWLWriter
        let summary: QuantizeSummary
        do {
            (writer, summary) = try SWLWriter.quantized(file, to: target, rule: rule)
        } catch {
            failAndExit(error.message)
        }
        writeReplacing(writer, to: output, suffix: ".quantizing")
        print(
            String(
                format: "wrote %@: %d %@ matrices as %@, %@ → %@", output, summary.tensors.count, family, target.name,
                formatBytes(summary.bytesBefore), formatBytes(summary.bytesAfter)))
        if !summary.droppedKeys.isEmpty {
            note(
                "note: the quality profile (\(summary.droppedKeys.joined(separator: ", "))) was measured on the original weights and is left out; run `swiftlet profile` on \(output) to add one"
            )
        }
        try measure()
    }

    /// Runs the original and the quantized model on the calibration input and prints the deviation.
    private func measure() throws {
        let original = try openModel(model)
        let quantized: Model
        do {
            quantized = try Model(path: output)
        } catch {
            try? FileManager.default.removeItem(atPath: output)
            failAndExit("the quantized model does not load (\(error.message)); nothing was written")
        }
        let array = try input.map { try readNPY($0, flag: "--input") } ?? calibrationInput(original)
        func outputs(_ m: Model) throws -> [Tensor] {
            try orFail { () throws(SwiftletError) in
                let session = try m.makeSession()
                _ = try array.withView(for: m) { (v) throws(SwiftletError) in try session.run(views: [v]) }
                return try session.lastOutputs
            }
        }
        let want = try outputs(original)
        let got = try outputs(quantized)
        print("calibration input \(input ?? "generated (seed 0x5eed)") \(array.shape):")
        for (i, (w, g)) in zip(want, got).enumerated() {
            let name = i < original.outputs.count ? original.outputs[i].name : "output \(i)"
            let d = Deviation(g.values, w.values, columns: w.shape.last ?? 1)
            var line = String(
                format: "  %@ %@: max |Δ| %.3g, max |Δ|/scale %.3g (scale %.3g)", name,
                "\(w.shape)", d.maxAbs, d.relative, d.scale)
            if let agree = d.top1, (w.shape.last ?? 1) > 1 {
                line += String(format: ", top-1 agreement %.1f %% of %d rows", 100 * agree, d.rows)
            }
            print(line)
        }
    }

    /// A fixed-seed input in the model's first input shape: batch 1; token ids of the vocabulary over
    /// 64 positions (at most the context); feature frames in [-1, 1] (the clip length when the model
    /// has one, else 100).
    private func calibrationInput(_ m: Model) throws -> NPYArray {
        guard let info = m.inputs.first else { failAndExit("the model has no inputs") }
        var dims = info.shape
        for i in dims.indices where dims[i] < 0 {
            switch info.dimensionNames[i] {
            case "batch": dims[i] = 1
            case "sequence":
                var context = 64
                if let session = try? m.makeSession(), session.contextLength > 0 {
                    context = min(context, session.contextLength)
                }
                dims[i] = context
            case "frames":
                if case .int(let frames)? = m.metadata[LMUFormerSchema.Key.targetFrames], frames > 0 {
                    dims[i] = Int(frames)
                } else {
                    dims[i] = 100
                }
            default:
                failAndExit(
                    "cannot generate a calibration input for \(info.shapeDescription) (\(info.dimensionNames[i])); give --input"
                )
            }
        }
        let count = dims.reduce(1, *)
        var rng = SplitMix64(seed: 0x5eed)
        if info.dtype == .i32 {
            let vocab = max(m.outputs.first.flatMap { $0.shape.last }.map { max($0, 1) } ?? 2, 1)
            return try NPYArray(int32s: (0..<count).map { _ in Int32(rng.int(vocab)) }, shape: dims)
        }
        return try NPYArray(floats: (0..<count).map { _ in rng.float(-1, 1) }, shape: dims)
    }
}

/// How far `got` is from `want`: the largest |Δ|, the scale (largest |want|), and over rows of
/// `columns` values the share whose largest value sits at the same index.
struct Deviation {
    var maxAbs: Float = 0
    var scale: Float = 0
    var top1: Double?
    var rows = 0

    var relative: Float { scale > 0 ? maxAbs / scale : maxAbs }

    init(_ got: [Float], _ want: [Float], columns: Int) {
        for (g, w) in zip(got, want) {
            maxAbs = max(maxAbs, g.isFinite && w.isFinite ? abs(g - w) : .infinity)
            scale = max(scale, abs(w))
        }
        if got.count != want.count { maxAbs = .infinity }
        guard columns > 1, want.count % columns == 0, got.count == want.count else { return }
        rows = want.count / columns
        var same = 0
        for r in 0..<rows {
            let base = r * columns
            func argmax(_ v: [Float]) -> Int {
                var best = base
                for c in base..<(base + columns) where v[c] > v[best] { best = c }
                return best
            }
            if argmax(got) == argmax(want) { same += 1 }
        }
        top1 = rows > 0 ? Double(same) / Double(rows) : nil
    }
}
