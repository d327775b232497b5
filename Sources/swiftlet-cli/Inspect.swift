import ArgumentParser
import Foundation
import Swiftlet
import SwiftletFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a .swl file holds: inputs, outputs, budget knobs, metadata and tensors.",
        discussion: """
            Prints the format version; the model's inputs and outputs (name, dtype, shape, with the \
            dimensions of any size named: batch, sequence, frames, tokens); the budget knobs its \
            family takes, as the flags of run, generate and stream and the words of bench --budget; \
            the quality profile, if `swiftlet profile` stored one; the metadata; and one row per \
            tensor: name, dtype, shape as stored, codec, stored and raw size, and whether its \
            checksum was verified.

            With --verify every checksum is checked; the command exits non-zero with a one-line \
            reason if the file is damaged. A long list (a tokenizer's vocabulary and merges, class \
            names) shows its first few values and its length; --full prints every value.

            Example:
              swiftlet inspect deit.swl --verify
            """)

    @Argument(help: "The .swl file.")
    var file: String

    @Flag(help: "Verify every tensor checksum (reads and decompresses the whole file).")
    var verify = false

    @Flag(help: "Print every value of long metadata lists (vocabularies, merges, labels).")
    var full = false

    func run() throws {
        let swl: SWLFile
        do {
            swl = try SWLFile(path: file, options: ReadOptions(verify: verify ? .eager : .never))
        } catch {
            failAndExit(error.message.contains(file) ? error.message : "\(file): \(error.message)")
        }
        print(
            "\(file): Swiftlet model format \(swl.major).\(swl.minor), \(swl.fileSize) bytes, \(swl.tensors.count) tensors"
        )
        do {
            let m = try Model(path: file)
            printInterface(m)
        } catch {
            note("warning: cannot load \(file) as a model, so its inputs and budget are not shown: \(error.message)")
        }
        printQualityProfile(swl.metadata)
        print("metadata:")
        for key in swl.metadataKeys {
            print("  \(key) = \(describe(swl.metadata[key]!, limit: full ? nil : 12))")
        }
        var rows: [[String]] = [["name", "dtype", "shape", "codec", "stored", "raw", "checksum"]]
        for t in swl.tensors {
            let codec = t.codec == .zstd ? (t.shuffle ? "zstd+shuffle" : "zstd") : "raw"
            let state: String
            switch swl.checksumState(t.name) {
            case .verified: state = "ok"
            case .failed: state = "FAILED"
            case .unverified: state = "unverified"
            }
            rows.append([
                t.name, t.dtypeName, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", codec,
                String(t.storedSize), String(t.rawSize), state,
            ])
        }
        printTable(rows)
        if verify {
            // Tensors this runtime cannot decode (unknown dtype, codec or filter) are skipped.
            let verified = swl.tensors.filter { swl.checksumState($0.name) == .verified }.count
            let skipped = swl.tensors.count - verified
            print(
                skipped == 0
                    ? "all \(verified) checksums verified"
                    : "\(verified) checksums verified; \(skipped) tensors this runtime cannot read were skipped")
        }
    }
}

/// The model's inputs and outputs, and the budget knobs its family takes in command-line terms.
func printInterface(_ m: Model) {
    let lm = m.generates
    for (title, infos) in [("inputs", m.inputs), ("outputs", m.outputs)] {
        print("\(title):")
        printTable(infos.map { [$0.name, $0.dtype.description, $0.shapeDescription] }, indent: "  ")
    }
    let commands = lm ? "run, generate, bench --budget" : "run, bench --budget"
    var rows: [[String]] = []
    for knob in m.sessionKnobs.sorted() {
        guard let c = knob.commandLine(stream: false, languageModel: lm) else { continue }
        rows.append([c.flag ?? "", c.benchKey ?? "", c.meaning + knobDetail(knob, m)])
    }
    print(rows.isEmpty ? "budget (\(commands)): none, the model always runs in full" : "budget (\(commands)):")
    printTable(rows, indent: "  ")
    let streamRows = m.streamKnobs.sorted().compactMap { knob -> [String]? in
        guard let c = knob.commandLine(stream: true, languageModel: lm), let flag = c.flag else { return nil }
        return [flag, c.meaning + knobDetail(knob, m)]
    }
    if !streamRows.isEmpty {
        print("stream budget (stream):")
        printTable(streamRows, indent: "  ")
    }
}

/// What the model's metadata says about a knob's range.
private func knobDetail(_ knob: BudgetKnob, _ m: Model) -> String {
    switch knob {
    case .loops:
        if case .int(let n)? = m.metadata[LoopFormerSchema.Key.maxLoops] { return ", 1 to \(n)" }
    case .mergeR:
        if case .int(let depth)? = m.metadata[ViTSchema.Key.depth] { return " (\(depth) blocks)" }
    case .minQuality:
        return m.metadata[QualitySchema.Key.scores] == nil ? " (needs a quality profile: swiftlet profile)" : ""
    default: break
    }
    return ""
}

/// The quality profile (`swiftlet profile`) as a table: each setting's score and its quality as a
/// fraction of full quality. `profile` writes the full-quality setting first.
func printQualityProfile(_ metadata: [String: MetadataValue]) {
    typealias K = QualitySchema.Key
    guard case .string(let name)? = metadata[K.metric], let metric = QualitySchema.Metric(rawValue: name),
        case .strings(let settings)? = metadata[K.settings], case .floats(let scores)? = metadata[K.scores],
        settings.count == scores.count, let full = scores.first
    else { return }
    var about = "quality profile: \(name)"
    if case .string(let data)? = metadata[K.data], !data.isEmpty { about += " on \(data)" }
    print(about + ":")
    var rows = [["setting", name, "of full"]]
    for (setting, score) in zip(settings, scores) {
        let fraction = metric.higherIsBetter ? (full > 0 ? score / full : 1) : full / score
        rows.append([setting, String(format: "%.4f", score), String(format: "%.3f", fraction)])
    }
    printTable(rows)
}

/// A metadata value as `inspect` prints it; a list longer than `limit` shows its first values and
/// its length, so a tokenizer's 4,000 merges do not bury the rest.
func describe(_ v: MetadataValue, limit: Int? = nil) -> String {
    func list(_ items: [String]) -> String {
        guard let limit, items.count > limit else { return "[" + items.joined(separator: ", ") + "]" }
        return "[" + items.prefix(limit / 2).joined(separator: ", ") + ", … (\(items.count) values)]"
    }
    switch v {
    case .int(let x): return String(x)
    case .float(let x): return String(x)
    case .string(let s): return s.debugDescription
    case .bool(let b): return String(b)
    case .ints(let a): return list(a.map(String.init))
    case .floats(let a): return list(a.map { String($0) })
    case .strings(let a): return list(a.map(\.debugDescription))
    }
}

/// Rows in aligned columns, each line starting with `indent`.
func printTable(_ rows: [[String]], indent: String = "") {
    guard let first = rows.first else { return }
    var widths = first.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    for r in rows {
        print(
            indent
                + r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
    }
}
