import ArgumentParser
import Foundation
import Swiftlet
import SwiftletConvert

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Stream frames or audio through a model frame by frame (LMUFormer); spot spoken words.",
        discussion: """
            With --input, frames of a [frames, features] or [1, frames, features] .npy array are \
            pushed --chunk at a time, the stream is flushed, and the per-frame predictions are \
            written to --output as [frames, classes]: the rows a whole-clip run gives. The summary \
            gives the mean wall time per frame over the run and the median (p50) and 90th \
            percentile of the pushes, each timed alone; on a busy machine the mean also holds the \
            time the process waited for a core, so the median is what a push costs.

            With --wav (a 16 kHz mono 16-bit WAV file) or --pcm (raw 16 kHz mono s16le samples from \
            a file, or from standard input with `--pcm -`, pushed as they are read), audio goes \
            through the model's audio front end and the running top class is printed as it streams \
            (names from --labels, one per line, or the ones the model carries).

            With --detect, a word detector runs on the model's per-frame class scores and one line is \
            printed per spoken word, as soon as it is found: <seconds> <word> <score>, e.g. \
            "1.23 yes 0.91": where in the audio the word was heard (the centre of the smoothing \
            window at the score's peak), its class name (spaces become _), and its smoothed \
            posterior. Posteriors (the softmax of each frame's logits) are averaged over --window \
            seconds; a word class reaching --threshold is reported once, at its peak; no word starts \
            until --hold-off seconds after the reported word's score has fallen below the threshold. \
            Classes named silence, unknown, background, background_noise or noise (any case; \
            `_silence_`, `_unknown_`) are never reported. The stream listens until the input ends, \
            whatever the model's clip length.

            Examples:
              swiftlet stream lmu.swl --input clip.npy --chunk 7 --output steps.npy
              swiftlet stream kws.swl --wav yes.wav --labels labels.txt
              swiftlet stream kws.swl --wav sentence.wav --detect
              arecord -q -f S16_LE -r 16000 -c 1 |
                swiftlet stream kws.swl --pcm - --detect
              sox talk.mp3 -t raw -r 16000 -c 1 -b 16 -e signed - |
                swiftlet stream kws.swl --pcm - --detect --threshold 0.7
            """)

    @Argument(help: "The .swl model.")
    var model: String

    @Option(help: "Frames as .npy, [frames, features] or [1, frames, features].")
    var input: String?

    @Option(help: "Frames per push.")
    var chunk: Int = 1

    @Option(help: "Where to write the per-frame predictions (.npy).")
    var output: String?

    @Option(help: "A 16 kHz mono 16-bit PCM WAV file to stream through the audio front end.")
    var wav: String?

    @Option(
        help: "Raw 16 kHz mono s16le samples to stream through the audio front end: a file, or - for standard input.")
    var pcm: String?

    @Flag(help: "Print one line per detected word (seconds, word, score) instead of a line per frame.")
    var detect = false

    @Option(help: "With --detect: the smoothed posterior a word must reach, in (0, 1].")
    var threshold: Double = DetectorOptions().threshold

    @Option(help: "With --detect: seconds of posteriors averaged.")
    var window: Double = DetectorOptions().window

    @Option(
        name: .customLong("hold-off"),
        help: "With --detect: seconds after a word's score has fallen below the threshold before another starts.")
    var holdOff: Double = DetectorOptions().holdOff

    @Option(help: "Class names, one per line (default: the names the model carries, if any).")
    var labels: String?

    @Option(name: .customLong("early-margin"), help: "Stop once the running top-1 minus top-2 score exceeds this.")
    var earlyMargin: Double?

    @Option(
        name: .customLong("min-quality"),
        help:
            "A model with a quality profile (swiftlet profile): decide as early as the profile says keeps this fraction of full quality (e.g. 0.95)."
    )
    var minQuality: Double?

    @Option(help: "With --wav or --pcm: print every Nth frame's prediction.")
    var every: Int = 1

    func validate() throws {
        guard [input, wav, pcm].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --input, --wav or --pcm")
        }
        guard chunk >= 1 else { throw ValidationError("--chunk must be at least 1") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
        if input != nil && output == nil { throw ValidationError("--input needs --output") }
        if detect {
            guard input == nil else { throw ValidationError("--detect listens to audio: give --wav or --pcm") }
            guard earlyMargin == nil && minQuality == nil else {
                throw ValidationError("--detect listens until the input ends; it takes no early decision")
            }
        }
    }

    func run() throws {
        if let output { checkOutputPath(output, flag: "--output") }
        if let input { checkInputPath(input, flag: "--input") }
        if let wav { checkInputPath(wav, flag: "--wav") }
        if let pcm, pcm != "-" { checkInputPath(pcm, flag: "--pcm") }
        let m = try openModel(model)
        if let input {
            try streamFrames(m, input)
            return
        }
        let source: AudioSource
        if let wav {
            do { source = try AudioSource(samples: readWAV16kMono(wav)) } catch {
                failAndExit("--wav \(wav): \(error)")
            }
        } else {
            do { source = try AudioSource(path: pcm!) } catch { failAndExit("--pcm \(pcm!): \(error)") }
        }
        if detect { try detectWords(m, source) } else { try streamAudio(m, source) }
    }

    private func streamFrames(_ m: Model, _ path: String) throws {
        let array = try readNPY(path, flag: "--input")
        let stream = try orFail { () throws(SwiftletError) in try m.makeStream() }
        let width = stream.frameWidth
        let values: [Float]
        do { values = try array.floats() } catch { failAndExit("--input \(path): \(error)") }
        guard let last = array.shape.last, last == width, array.shape.count <= 3,
            array.shape.count < 3 || array.shape[0] == 1
        else {
            failAndExit(
                "--input \(path) has shape \(array.shape); the stream takes frames of \(width) floats as [frames, \(width)] or [1, frames, \(width)]"
            )
        }
        let frames = values.count / width
        if earlyMargin != nil || minQuality != nil {
            let budget = Budget(earlyMargin: earlyMargin, expectedFrames: frames, minQuality: minQuality)
            checkKnobs(budget, m, stream: true)
            try orFail { () throws(SwiftletError) in try stream.setBudget(budget) }
        }
        var rows: [Float] = []
        var start = 0
        // Each push is timed on its own as well: on a shared machine the mean over the run also holds
        // the time the process was preempted, while the median push is what the library costs.
        var pushMicroseconds: [Double] = []
        pushMicroseconds.reserveCapacity((frames + chunk - 1) / chunk)
        let t0 = Date()
        while start < frames {
            let end = min(frames, start + chunk)
            let slice = Array(values[(start * width)..<(end * width)])
            let p0 = DispatchTime.now().uptimeNanoseconds
            let made = try orFail({ () throws(SwiftletError) in try stream.push(slice) })
            pushMicroseconds.append(Double(DispatchTime.now().uptimeNanoseconds - p0) * 1e-3)
            for r in made { rows += r }
            start = end
        }
        for r in try orFail({ () throws(SwiftletError) in try stream.flush() }) { rows += r }
        let elapsed = Date().timeIntervalSince(t0)
        let w = stream.outputWidth
        do {
            try NPYArray(floats: rows, shape: [rows.count / max(w, 1), w]).write(to: output!)
        } catch { failAndExit("\(error)") }
        pushMicroseconds.sort()
        func percentile(_ q: Double) -> Double {
            pushMicroseconds.isEmpty ? 0 : pushMicroseconds[Int(q * Double(pushMicroseconds.count - 1))]
        }
        note(
            String(
                format:
                    "%d frames in chunks of %d: %d rows, %.1f µs per frame; pushes p50 %.1f µs, p90 %.1f µs (%.1f µs per frame at p50); %@",
                frames, chunk, rows.count / max(w, 1), elapsed * 1e6 / Double(max(frames, 1)),
                percentile(0.5), percentile(0.9), percentile(0.5) / Double(min(chunk, max(frames, 1))),
                describe(try orFail { () throws(SwiftletError) in try stream.report })))
    }

    /// Prints the running top class of every --every-th frame.
    private func streamAudio(_ m: Model, _ source: AudioSource) throws {
        let names = labels.map { readLabels($0, flag: "--labels") } ?? m.labels
        let stream = try orFail { () throws(SwiftletError) in try m.makeStream(options: StreamOptions(input: .pcm)) }
        if earlyMargin != nil || minQuality != nil {
            let budget = Budget(earlyMargin: earlyMargin, minQuality: minQuality)
            checkKnobs(budget, m, stream: true)
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
        while let piece = source.next() {
            show(try orFail { () throws(SwiftletError) in try stream.pushPCM(piece) })
            if try orFail({ () throws(SwiftletError) in try stream.report }).decided { break }
        }
        show(try orFail { () throws(SwiftletError) in try stream.flush() })
        let r = try orFail { () throws(SwiftletError) in try stream.report }
        let perFrame = r.microseconds / Double(max(frame, 1))
        note(
            String(
                format: "%d frames from %.2f s of audio: %.1f µs of compute per 10 ms frame (%.0f× real time); %@",
                frame, Double(source.samplesRead) / 16000, perFrame, 10_000 / max(perFrame, 1e-9), describe(r)))
    }

    /// Prints one line per detected word.
    private func detectWords(_ m: Model, _ source: AudioSource) throws {
        var options = DetectorOptions(threshold: threshold, window: window, holdOff: holdOff)
        var names = m.labels
        if let labels {
            names = readLabels(labels, flag: "--labels")
            guard names.count == m.classCount ?? 0 else {
                failAndExit("--labels has \(names.count) names; the model scores \(m.classCount ?? 0) classes")
            }
            options.background = names.indices.filter { DetectorOptions.isBackground(label: names[$0]) }
        }
        let stream = try orFail { () throws(SwiftletError) in
            try m.makeStream(options: StreamOptions(input: .pcm, detector: options))
        }
        var words = 0
        func show(_ found: [Detection]) {
            for d in found {
                // One field per word, whatever the class is called.
                let name = String(
                    (d.classIndex < names.count ? names[d.classIndex] : d.word).map { $0.isWhitespace ? "_" : $0 })
                print(String(format: "%.2f %@ %.2f", d.seconds, name, Double(d.score)))
                fflush(nil) // each word as it is found, even into a pipe
                words += 1
            }
        }
        while let piece = source.next() {
            try orFail { () throws(SwiftletError) in _ = try stream.pushPCM(piece) }
            show(try orFail { () throws(SwiftletError) in try stream.detections })
        }
        try orFail { () throws(SwiftletError) in _ = try stream.flushInPlace() }
        show(try orFail { () throws(SwiftletError) in try stream.detections })
        let r = try orFail { () throws(SwiftletError) in try stream.report }
        let frames = Int(r.values["frames_in"]?.first ?? Double(r.framesUsed))
        note(
            String(
                format: "%d word(s) in %.2f s of audio; %.1f µs of compute per 10 ms frame", words,
                Double(source.samplesRead) / 16000, r.microseconds / Double(max(frames, 1))))
    }
}

/// 16-bit samples in pieces: a whole WAV file 10 ms at a time, or raw s16le from a file or standard
/// input, each piece as soon as it has been read (so a live pipe is pushed as it arrives).
final class AudioSource {
    private var samples: [Int16]?
    private var offset = 0
    private let fd: Int32
    private var odd: UInt8?
    private var buffer = [UInt8](repeating: 0, count: 3200)
    private(set) var samplesRead = 0

    init(samples: [Int16]) {
        self.samples = samples
        fd = -1
    }

    init(path: String) throws {
        if path == "-" {
            fd = 0
        } else {
            fd = open(path, O_RDONLY)
            guard fd >= 0 else { throw WAVError(description: "cannot open: \(String(cString: strerror(errno)))") }
        }
    }

    deinit { if fd > 0 { close(fd) } }

    /// The next piece, or nil at the end of the input.
    func next() -> [Int16]? {
        if let samples {
            guard offset < samples.count else { return nil }
            let end = min(samples.count, offset + 160)
            defer { offset = end }
            samplesRead = end
            return Array(samples[offset..<end])
        }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { failAndExit("reading the PCM input failed: \(String(cString: strerror(errno)))") }
            if n == 0 { return nil }
            var bytes = Array(buffer[0..<n])
            if let b = odd {
                bytes.insert(b, at: 0)
                odd = nil
            }
            if bytes.count % 2 == 1 { odd = bytes.removeLast() }
            guard !bytes.isEmpty else { continue }
            let piece = (0..<(bytes.count / 2)).map {
                Int16(bitPattern: UInt16(bytes[2 * $0]) | UInt16(bytes[2 * $0 + 1]) << 8)
            }
            samplesRead += piece.count
            return piece
        }
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
