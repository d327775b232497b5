import ArgumentParser
import Foundation
import SwiftletFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a .swl file holds: metadata and a table of tensors.",
        discussion: """
            Prints the format version, the metadata, and one row per tensor: name, dtype, shape, codec,
            stored and raw size, and whether its checksum was verified. With --verify every checksum is
            checked; the command exits non-zero with a one-line reason if the file is damaged.
            """)

    @Argument(help: "The .swl file.")
    var file: String

    @Flag(help: "Verify every tensor checksum (reads and decompresses the whole file).")
    var verify = false

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
        print("metadata:")
        for key in swl.metadataKeys {
            print("  \(key) = \(describe(swl.metadata[key]!))")
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

func describe(_ v: MetadataValue) -> String {
    switch v {
    case .int(let x): return String(x)
    case .float(let x): return String(x)
    case .string(let s): return "\"\(s)\""
    case .bool(let b): return String(b)
    case .ints(let a): return "[" + a.map(String.init).joined(separator: ", ") + "]"
    case .floats(let a): return "[" + a.map { String($0) }.joined(separator: ", ") + "]"
    case .strings(let a): return "[" + a.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    }
}

func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    var widths = first.map(\.count)
    for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
    for r in rows {
        print(
            r.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
    }
}
