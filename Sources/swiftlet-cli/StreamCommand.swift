import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Stream frames or a WAV file through a model frame by frame (LMUFormer).",
        discussion: """
            With --input, frames of a [T, C] or [1, T, C] .npy array are pushed --chunk at a time through
            the stream API, the stream is flushed, and the per-frame predictions are written to --output
            as [T, classes] — the same rows a whole-clip run gives.

            With --wav, 16 kHz mono 16-bit PCM is pushed in 10 ms pieces through the model's audio front
            end, and the running top class is printed as the audio streams (label names from --labels,
            one per line).

            Examples:
              swiftlet stream lmu.swl --input clip.npy --chunk 7 --output steps.npy
              swiftlet stream kws.swl --wav yes.wav --labels labels.txt
            """)

    @Argument(help: "The .swl model.")
    var model: String

    @Option(help: "Frames as .npy, [T, C] or [1, T, C].")
    var input: String?

    @Option(help: "Frames per push.")
    var chunk: Int = 1

    @Option(help: "Where to write the per-frame predictions (.npy).")
    var output: String?

    @Option(help: "A 16 kHz mono 16-bit PCM WAV file to stream through the audio front end.")
    var wav: String?

    @Option(help: "Class names, one per line, for --wav (default: the names the model carries, if any).")
    var labels: String?

    @Option(name: .customLong("early-margin"), help: "Stop once the running top-1 minus top-2 score exceeds this.")
    var earlyMargin: Double?

    @Option(
        name: .customLong("min-quality"),
        help:
            "A model with a quality profile (swiftlet profile): decide as early as the profile says keeps this fraction of full quality (e.g. 0.95)."
    )
    var minQuality: Double?

    @Option(help: "With --wav: print every Nth frame's prediction.")
    var every: Int = 1

    func validate() throws {
        guard (input == nil) != (wav == nil) else { throw ValidationError("give exactly one of --input or --wav") }
        guard chunk >= 1 else { throw ValidationError("--chunk must be at least 1") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
        if input != nil && output == nil { throw ValidationError("--input needs --output") }
    }

    func run() throws {
        let m = try openModel(model)
        if let input { try streamFrames(m, input) } else if let wav { try streamWAV(m, wav) }
    }

    private func streamFrames(_ m: Model, _ path: String) throws {
        let array = try readNPY(path)
        let stream = try orFail { () throws(SwiftletError) in try m.makeStream() }
        let width = stream.frameWidth
        let values: [Float]
        do { values = try array.floats() } catch { failAndExit("\(path): \(error)") }
        guard let last = array.shape.last, last == width, array.shape.count <= 3,
            array.shape.count < 3 || array.shape[0] == 1
        else {
            failAndExit(
                "\(path) has shape \(array.shape); the stream takes frames of \(width) floats as [T, \(width)] or [1, T, \(width)]"
            )
        }
        let frames = values.count / width
        if earlyMargin != nil || minQuality != nil {
            let budget = Budget(earlyMargin: earlyMargin, expectedFrames: frames, minQuality: minQuality)
            try orFail { () throws(SwiftletError) in try stream.setBudget(budget) }
        }
        var rows: [Float] = []
        var start = 0
        let t0 = Date()
        while start < frames {
            let end = min(frames, start + chunk)
            let slice = Array(values[(start * width)..<(end * width)])
            for r in try orFail({ () throws(SwiftletError) in try stream.push(slice) }) { rows += r }
            start = end
        }
        for r in try orFail({ () throws(SwiftletError) in try stream.flush() }) { rows += r }
        let elapsed = Date().timeIntervalSince(t0)
        let w = stream.outputWidth
        do {
            try NPYArray(floats: rows, shape: [rows.count / max(w, 1), w]).write(to: output!)
        } catch { failAndExit("cannot write \(output!): \(error)") }
        note(
            String(
                format: "%d frames in chunks of %d: %d rows, %.1f µs per frame; %@", frames, chunk,
                rows.count / max(w, 1),
                elapsed * 1e6 / Double(max(frames, 1)),
                describe(try orFail { () throws(SwiftletError) in try stream.report })))
    }

    private func streamWAV(_ m: Model, _ path: String) throws {
        let samples: [Int16]
        do { samples = try readWAV16kMono(path) } catch { failAndExit("\(path): \(error)") }
        let names = try labels.map(readLabels) ?? m.labels
        let stream = try orFail { () throws(SwiftletError) in try m.makeStream(options: StreamOptions(input: .pcm)) }
        if earlyMargin != nil || minQuality != nil {
            let budget = Budget(earlyMargin: earlyMargin, minQuality: minQuality)
            try orFail { () throws(SwiftletError) in try stream.setBudget(budget) }
        }
        var frame = 0
        func show(_ rows: [[Float]]) {
            for row in rows {
                frame += 1
                guard frame % every == 0 || frame == 1 else { continue }
                let best = row.indices.max { row[$0] < row[$1] } ?? 0
                let name = best < names.count ? names[best] : "class \(best)"
                print(
                    String(format: "%6.2f s  frame %4d  top: %@ (%.3f)", Double(frame) * 0.01, frame, name, row[best]))
            }
        }
        var i = 0
        while i < samples.count {
            let end = min(samples.count, i + 160)
            show(try orFail { () throws(SwiftletError) in try stream.pushPCM(Array(samples[i..<end])) })
            i = end
            if try orFail({ () throws(SwiftletError) in try stream.report }).decided { break }
        }
        show(try orFail { () throws(SwiftletError) in try stream.flush() })
        let r = try orFail { () throws(SwiftletError) in try stream.report }
        let perFrame = r.microseconds / Double(max(frame, 1))
        note(
            String(
                format: "%d frames from %.2f s of audio: %.1f µs of compute per 10 ms frame (%.0f× real time); %@",
                frame, Double(samples.count) / 16000, perFrame, 10_000 / max(perFrame, 1e-9), describe(r)))
    }
}

struct WAVError: Error, CustomStringConvertible {
    let description: String
}

/// Reads a RIFF WAV file of 16-bit PCM, mono, 16 kHz.
func readWAV16kMono(_ path: String) throws -> [Int16] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw WAVError(description: "cannot read the file")
    }
    let b = [UInt8](data)
    func u32(_ o: Int) -> UInt32 {
        UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
    }
    func u16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    guard b.count >= 12, b[0..<4] == [0x52, 0x49, 0x46, 0x46], b[8..<12] == [0x57, 0x41, 0x56, 0x45] else {
        throw WAVError(description: "not a RIFF/WAVE file")
    }
    var o = 12
    var format: (channels: UInt16, rate: UInt32, bits: UInt16, tag: UInt16)?
    while o + 8 <= b.count {
        let id = String(decoding: b[o..<(o + 4)], as: UTF8.self)
        let size = Int(u32(o + 4))
        let body = o + 8
        guard body + size <= b.count || id == "data" else {
            throw WAVError(description: "chunk '\(id)' runs past the end")
        }
        if id == "fmt " {
            guard size >= 16 else { throw WAVError(description: "fmt chunk too short") }
            format = (u16(body + 2), u32(body + 4), u16(body + 14), u16(body))
        } else if id == "data" {
            guard let f = format else { throw WAVError(description: "data before fmt") }
            guard f.tag == 1 || f.tag == 0xFFFE, f.bits == 16, f.channels == 1, f.rate == 16000 else {
                throw WAVError(
                    description:
                        "need 16 kHz mono 16-bit PCM, got \(f.rate) Hz, \(f.channels) channel(s), \(f.bits)-bit")
            }
            let n = min(size, b.count - body) / 2
            return (0..<n).map { Int16(bitPattern: u16(body + 2 * $0)) }
        }
        o = body + size + (size & 1)
    }
    throw WAVError(description: "no data chunk")
}
