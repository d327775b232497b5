import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert an official PyTorch checkpoint (.pth or .safetensors) into a .swl model file.",
        usage: """
            swiftlet convert --family <family> --checkpoint <checkpoint> \\
              --output <output> [<options>]
            """,
        discussion: """
            The config is a JSON object of the reference constructor's keyword arguments (for ViTs \
            the timm arguments: img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, \
            num_classes). A file that nests them under "constructor", "timm_kwargs" or "config" works \
            as is. Arguments the checkpoint records (LoopFormer's model_args, DeiT's args, GPT-NeoX's \
            args, the config.json of a Hugging Face folder passed as --checkpoint) complete it, and \
            so do the sizes its tensors show (widths, counts, vocabulary): the config may leave those \
            out, and is refused where it contradicts them. What nothing determines (a head count) \
            takes the official default with a warning on stderr; set it in the config.

            .pth files are read by a restricted unpickler that never runs code from the file; the \
            state dict may sit at the top level or under model / state_dict / model_state_dict / \
            module. The output is deterministic: the same weights from a .pth and a .safetensors give \
            identical bytes. The file is written to a temporary name, synced and renamed, so a failed \
            conversion never leaves a half-written model behind.

            On a terminal, one line on stderr shows how far the conversion has got (tensors, bytes, \
            percent). --verbose also lists the checkpoint's tensors as it stores them (name, shape, \
            dtype); --quiet prints only warnings and errors.

            An image classifier (vit) converted with --preprocess and --labels runs on image files \
            (run --image). The --preprocess file is timm's pretrained_cfg \
            (`json.dump(model.pretrained_cfg, f)`, or a Hugging Face timm config.json, which holds \
            it): keys it leaves out take timm's defaults (bicubic, crop_pct 0.875, center, ImageNet \
            mean and std) with a warning; input_size must be the model's; crop_mode border and the \
            nearest and hamming filters are refused. A language model converted with --tokenizer \
            takes text (generate --prompt, tokenize).

            Examples:
              swiftlet convert --family vit --config kwargs.json \\
                  --checkpoint deit_tiny.pth --output deit.swl \\
                  --preprocess pretrained_cfg.json --labels imagenet_classes.txt
              swiftlet convert --family loopformer --checkpoint ckpt.pt \\
                  --tokenizer tokenizer.json --output lm.swl
            """)

    @Option(help: ArgumentHelp("Model family: \(Converter.families.map { $0.family }.joined(separator: ", "))."))
    var family: String

    @Option(
        help:
            "JSON file with the reference constructor's keyword arguments (what the checkpoint does not record or show)."
    )
    var config: String?

    @Option(help: "The official checkpoint: a torch.save .pth/.pt zip, a .safetensors file, or a Hugging Face folder.")
    var checkpoint: String

    @Option(help: "Where to write the .swl file.")
    var output: String

    @Option(
        help:
            "Storage type of weight matrices: f32 (exact), f16, bf16, q8 (int8; LoopFormer, ViT, LMUFormer, and the MemoryFormer embedding and LM head) or q4 (int4 with a scale per block of 32; the MemoryFormer embedding and LM head only). ViT: bf16 or q8 matrices are read in place by bf16 / int8 kernels (q8: activations quantized per token); f16 is refused."
    )
    var dtype: String = "f32"

    @Option(
        name: .customLong("table-dtype"),
        help:
            "MemoryFormer: storage type of the hash tables: f32, f16, q8 (int8 with a scale per row) or q4 (int4 with a scale per block of 32)."
    )
    var tableDType: String = "f32"

    @Option(
        help:
            "A name for the model (general.name); by default the checkpoint's file name without its extension (a folder's name)."
    )
    var name: String?

    @Option(
        help:
            "Class names of a classifier (ViT, LMUFormer), one per line in class order (general.labels); `run` and `stream` print them."
    )
    var labels: String?

    @Option(
        help:
            "A language model's Hugging Face tokenizer.json (byte-level BPE: GPT-2, GPT-NeoX, Pythia); generate --prompt and tokenize use it."
    )
    var tokenizer: String?

    @Option(
        help: ArgumentHelp(
            "ViT: timm's pretrained_cfg as JSON (interpolation, crop_pct, crop_mode, mean, std, input_size), stored as image.* metadata so that `run --image` can preprocess images.",
            valueName: "cfg.json"))
    var preprocess: String?

    @Flag(help: "Compress tensors with zstd (floats are byte-shuffled first). Smaller files, slower first use.")
    var compress = false

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    @Flag(help: "Print nothing but warnings and errors.")
    var quiet = false

    @Flag(help: "Also list the checkpoint's tensors with the shapes and dtypes it stores.")
    var verbose = false

    func validate() throws {
        guard !(quiet && verbose) else { throw ValidationError("give --quiet or --verbose, not both") }
    }

    func run() throws {
        checkOutputPath(output, flag: "--output")
        checkInputPath(checkpoint, flag: "--checkpoint", folderAllowed: true)
        let inputs: [(String?, String)] = [
            (config, "--config"), (labels, "--labels"), (tokenizer, "--tokenizer"), (preprocess, "--preprocess"),
        ]
        for case (let path?, let flag) in inputs { checkInputPath(path, flag: flag) }
        var options = ConvertOptions(
            weightDType: try parseDType(dtype, "--dtype", allowQ8: true, allowQ4: true),
            tableDType: try parseDType(tableDType, "--table-dtype", allowQ8: true, allowQ4: true),
            compress: compress, name: name, labels: labels.map { readLabels($0, flag: "--labels") },
            preprocess: try preprocess.map { path in
                do { return try PreprocessConfig(path: path) } catch let e as ConvertError {
                    failAndExit("--preprocess \(e.message)")
                }
            })
        if let tokenizer {
            do {
                let (values, warnings) = try TokenizerJSON.metadata(path: tokenizer)
                options.tokenizer = values
                for w in warnings { note("warning: \(w)") }
            } catch let e as ConvertError {
                failAndExit("--tokenizer \(e.message)")
            }
        }
        let start = Date()
        let (quiet, verbose) = (self.quiet, self.verbose)
        do {
            let warnings = try Converter.convert(
                family: family, configPath: config, checkpointPath: checkpoint,
                outputPath: output, options: options, force: force
            ) { event in
                guard !quiet else { return }
                switch event {
                case .step(let line):
                    note(line)
                case .checkpoint(let c):
                    let bytes = c.tensors.reduce(0) { $0 + $1.bytes.count }
                    let under = c.stateDictKey.map { ", state dict under '\($0)'" } ?? ""
                    note("  \(c.tensors.count) tensors, \(formatBytes(bytes)) (\(c.format)\(under))")
                    if verbose {
                        for t in c.tensors {
                            note("  \(t.name) [\(t.shape.map(String.init).joined(separator: ", "))] \(t.dtype)")
                        }
                    }
                case .progress(let p):
                    ProgressLine.show(
                        String(
                            format: "%@: tensor %d/%d, %@ of %@ (%.0f %%)", p.stage.rawValue, p.tensors,
                            p.totalTensors, formatBytes(p.bytes), formatBytes(p.totalBytes), 100 * p.fraction),
                        force: p.tensors == 1 || p.tensors == p.totalTensors)
                }
            }
            ProgressLine.clear()
            for w in warnings { note("warning: \(w)") }
        } catch let e as ConvertError {
            failAndExit(e.message)
        } catch let e as CheckpointError {
            failAndExit(e.description)
        } catch let e as FormatError {
            failAndExit(e.message)
        }
        if options.labels != nil || options.preprocess != nil || options.tokenizer != nil {
            // The loader checks the labels against the model's classes, the image.* keys and a tokenizer
            // against the vocabulary; a file it refuses must not stay behind.
            do {
                let m = try Model(path: output)
                if options.preprocess != nil { _ = try m.imageInputShape }
            } catch {
                try? FileManager.default.removeItem(atPath: output)
                let flags = [
                    options.labels.map { _ in "--labels" }, options.preprocess.map { _ in "--preprocess" },
                    options.tokenizer.map { _ in "--tokenizer" },
                ]
                failAndExit("\(flags.compactMap { $0 }.joined(separator: ", ")): \(error.message)")
            }
        }
        if !quiet {
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            note(String(format: "done: %@ (%d bytes) in %.2f s", output, size, Date().timeIntervalSince(start)))
        }
    }
}

/// Class names, one per line (a trailing empty line and \r line ends are allowed); a file that
/// cannot be used is a one-line error naming `flag` and the file.
func readLabels(_ path: String, flag: String) -> [String] {
    checkInputPath(path, flag: flag)
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        failAndExit("\(flag) \(path) is not UTF-8 text (give one class name per line)")
    }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
        String($0.hasSuffix("\r") ? $0.dropLast() : $0)
    }
    if lines.last == "" { lines.removeLast() }
    if let blank = lines.firstIndex(of: "") {
        failAndExit("\(flag) \(path): line \(blank + 1) is empty; every class needs a name")
    }
    return lines
}

func parseDType(_ text: String, _ flag: String, allowQ8: Bool, allowQ4: Bool = false) throws -> DType {
    switch text.lowercased() {
    case "f32", "float32": return .f32
    case "f16", "float16", "half": return .f16
    case "bf16", "bfloat16": return .bf16
    case "q8" where allowQ8, "int8" where allowQ8: return .q8Row
    case "q4" where allowQ4, "int4" where allowQ4, "q4_block" where allowQ4: return .q4Block
    default:
        let offered = allowQ4 ? "f32, f16, bf16, q8 or q4" : allowQ8 ? "f32, f16, bf16 or q8" : "f32, f16 or bf16"
        throw ValidationError("\(flag) must be \(offered), got '\(text)'")
    }
}
