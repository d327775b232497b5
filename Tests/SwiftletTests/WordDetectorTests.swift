import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import Testing

@testable import SwiftletModels

/// Word detection: the detector on made-up score sequences, the per-frame scores streams give it,
/// and spoken words found by the trained keyword model of `Tests/Fixtures/kws-detect`.
@Suite struct WordDetectorTests {
    static let labels = ["_silence_", "_unknown_", "yes", "no"]

    /// Logit rows of `segments` (class, frames): the class at +6, every other class at 0.
    static func rows(_ segments: [(Int, Int)], classes: Int = 4) -> [Float] {
        var out: [Float] = []
        for (c, n) in segments {
            for _ in 0..<n { out += (0..<classes).map { $0 == c ? 6 : 0 } }
        }
        return out
    }

    static func detect(_ rows: [Float], _ options: DetectorOptions = DetectorOptions(), chunk: Int = 0) throws
        -> [Detection]
    {
        var d = try WordDetector(classes: 4, labels: labels, options: options)
        var found: [Detection] = []
        if chunk == 0 {
            found += try d.push(rows)
        } else {
            var i = 0
            while i < rows.count {
                let n = min(chunk * 4, rows.count - i)
                found += try d.push(Array(rows[i..<(i + n)]))
                i += n
            }
        }
        return found + d.flush()
    }

    @Test func oneEventPerWordInOrderAtItsPeak() throws {
        let seq = Self.rows([(0, 50), (2, 30), (0, 40), (3, 30), (0, 40)])
        let found = try Self.detect(seq)
        #expect(found.map(\.word) == ["yes", "no"])
        #expect(found.map(\.classIndex) == [2, 3])
        // The smoothed score peaks where the 30-frame window covers the word: its centre is the word's
        // centre (frames 50–79, 120–149).
        #expect(found.map(\.frame) == [64, 134])
        #expect(found.map { ($0.seconds * 1000).rounded() } == [645, 1345])
        for d in found { #expect(d.score > 0.99) }
        // Any chunking gives the same events.
        for chunk in [1, 7, 64] { #expect(try Self.detect(seq, chunk: chunk) == found) }
    }

    @Test func backgroundClassesAreNeverReported() throws {
        #expect(try Self.detect(Self.rows([(0, 40), (1, 60), (0, 40)])).isEmpty)
        // Explicit background classes replace the labels' choice.
        let found = try Self.detect(
            Self.rows([(0, 40), (1, 60), (2, 40)]), DetectorOptions(background: [0, 2]))
        #expect(found.map(\.word) == ["_unknown_"])
        for (label, background) in [
            ("_silence_", true), ("_unknown_", true), ("Silence", true), ("_background_noise_", true),
            ("noise", true), ("  unknown ", true), ("yes", false), ("silence2", false), ("unknown word", false),
        ] {
            #expect(DetectorOptions.isBackground(label: label) == background, "\(label)")
        }
    }

    @Test func holdOffKeepsOneWordOneEvent() throws {
        // No smoothing: a 4-frame dip splits the word's scores in two.
        let seq = Self.rows([(0, 20), (2, 20), (0, 4), (2, 20), (0, 40)])
        let held = try Self.detect(seq, DetectorOptions(window: 0.01))
        #expect(held.map(\.word) == ["yes"])
        let none = try Self.detect(seq, DetectorOptions(window: 0.01, holdOff: 0))
        #expect(none.map(\.word) == ["yes", "yes"])
        // A different word right after the hold-off is reported.
        let two = try Self.detect(
            Self.rows([(0, 20), (2, 20), (0, 31), (3, 20), (0, 20)]), DetectorOptions(window: 0.01))
        #expect(two.map(\.word) == ["yes", "no"])
    }

    @Test func aWordStillOpenAtTheEndIsReportedByFlush() throws {
        var d = try WordDetector(classes: 4, labels: Self.labels)
        #expect(try d.push(Self.rows([(0, 30), (3, 25)])).isEmpty)
        let last = d.flush()
        #expect(last.map(\.word) == ["no"])
        #expect(d.flush().isEmpty)
        d.reset()
        #expect(d.frames == 0)
    }

    @Test func thresholdAndFrameDurationApply() throws {
        // A word with a close second: its posterior is 0.62.
        var close = [Float]()
        for _ in 0..<40 { close += [0, 0, 6, 5.5] }
        #expect(try Self.detect(close).map(\.score).map { ($0 * 100).rounded() } == [62])
        #expect(try Self.detect(close, DetectorOptions(threshold: 0.7)).isEmpty)
        let found = try Self.detect(Self.rows([(0, 50), (2, 30), (0, 40)]), DetectorOptions(frameSeconds: 0.02))
        // A 0.3 s window is 15 frames of 20 ms; the first window inside the word (frames 50–64) peaks.
        #expect(found.map(\.frame) == [57])
        #expect(abs(found[0].seconds - 57 * 0.02) < 1e-9)
    }

    @Test func badOptionsAndScoresAreRefused() throws {
        func kind(_ options: DetectorOptions, classes: Int = 4, labels: [String] = Self.labels) -> String? {
            errorKind { _ = try WordDetector(classes: classes, labels: labels, options: options) }
        }
        #expect(kind(DetectorOptions(threshold: 0)) == "invalidArgument")
        #expect(kind(DetectorOptions(threshold: 1.5)) == "invalidArgument")
        #expect(kind(DetectorOptions(threshold: .nan)) == "invalidArgument")
        #expect(kind(DetectorOptions(window: 0)) == "invalidArgument")
        #expect(kind(DetectorOptions(window: .infinity)) == "invalidArgument")
        #expect(kind(DetectorOptions(window: 1e9)) == "invalidArgument")
        #expect(kind(DetectorOptions(holdOff: -1)) == "invalidArgument")
        #expect(kind(DetectorOptions(frameSeconds: 0)) == "invalidArgument")
        #expect(kind(DetectorOptions(background: [4])) == "invalidArgument")
        #expect(kind(DetectorOptions(background: [-1])) == "invalidArgument")
        #expect(kind(DetectorOptions(background: [0, 1, 2, 3])) == "invalidArgument")
        #expect(kind(DetectorOptions(), labels: ["a"]) == "invalidArgument")
        #expect(kind(DetectorOptions(), classes: 0, labels: []) == "invalidArgument")
        #expect(
            kind(DetectorOptions(), labels: ["_silence_", "_unknown_", "noise", "background"]) == "invalidArgument")
        var d = try WordDetector(classes: 4)
        #expect(d.words == ["class 0", "class 1", "class 2", "class 3"])
        #expect(errorKind { _ = try d.push([0, 0, 0]) } == "shape")
        #expect(errorKind { _ = try d.push([0, .nan, 0, 0]) } == "numeric")
    }

    // MARK: Streams

    @Test func detectingStreamsOfTheTestModel() throws {
        let model = try Model(bytes: try TestModel.fileBytes(labels: ["low", "middle", "high"]))
        let plain = try model.makeStream()
        #expect(errorKind { _ = try plain.detections } == "state")
        let stream = try model.makeStream(options: StreamOptions(detector: DetectorOptions(threshold: 0.34)))
        #expect(stream.wordDetector?.isWord == [true, true, true])
        var words: [Detection] = []
        for _ in 0..<50 {
            _ = try stream.push([Float](repeating: 0.3, count: stream.frameWidth))
            words += try stream.detections
        }
        _ = try stream.flush()
        words += try stream.detections
        #expect(words.count >= 1)
        // A detecting stream takes no early decision; reset starts detection over.
        #expect(errorKind { try stream.setBudget(Budget(earlyMargin: 0.5)) } == "budget")
        try stream.reset()
        #expect(try stream.detections.isEmpty)
        #expect(stream.wordDetector?.frames == 0)
        #expect(
            errorKind {
                _ = try model.makeStream(options: StreamOptions(detector: DetectorOptions(background: [0, 1, 2])))
            } == "invalidArgument")
    }

    /// The LMUFormer's per-frame scores are the head of each frame: with the head linear, the official
    /// running-mean rows give them back as (t+1)·row_t − t·row_{t−1}.
    @Test(arguments: ["lmu-test", "slmu-ms-test"])
    func lmuformerFrameScoresAreTheHeadOfEachFrame(name: String) throws {
        let fx = try LMUFixture.load(name)
        let file = try fx.bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        let model = try LMUFormerModel(file: file)
        let streamer = try #require(
            try model.makeStreamer(input: .frames, context: ExecutionContext(threads: 1)) as? LMUFormerStreamer)
        streamer.startDetection()
        var rows: [Float] = []
        var scores: [Float] = []
        let frames = fx.frames(0, 0..<fx.frames)
        try frames.withUnsafeBufferPointer { all in
            var t = 0
            for n in [1, 7, 32, 50, 38] {
                _ = try streamer.push(UnsafeBufferPointer(rebasing: all[(t * fx.features)..<((t + n) * fx.features)]))
                rows += Array(streamer.outputRows)
                scores += Array(streamer.frameScores)
                t += n
            }
        }
        _ = try streamer.flush()
        rows += Array(streamer.outputRows)
        scores += Array(streamer.frameScores)
        #expect(rows.count == fx.frames * fx.classes && scores.count == rows.count)
        #expect(lmuCompare(rows, fx.steps(0, 0..<fx.frames)).ok)
        let want = fx.steps(0, 0..<fx.frames)
        var worst: Double = 0
        for t in 0..<fx.frames {
            for k in 0..<fx.classes {
                let now = Double(want[t * fx.classes + k]) * Double(t + 1)
                let before = t == 0 ? 0 : Double(want[(t - 1) * fx.classes + k]) * Double(t)
                worst = max(worst, abs(Double(scores[t * fx.classes + k]) - (now - before)))
            }
        }
        // The reconstruction multiplies the rows' float32 error by t (up to 128).
        #expect(worst < 2e-3, "max error \(worst)")
    }

    // MARK: A trained keyword model on a spoken sentence

    struct Sentence: Decodable {
        struct Word: Decodable {
            let word: String
            let start: Double
            let end: Double
        }
        let words: [Word]
    }

    static func kws() throws -> (Model, [Int16], Sentence) {
        let dir = LMUFixture.directory("kws-detect")
        let labels = try String(contentsOfFile: dir + "/labels.txt", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let bytes = try FixtureCache.bytes("kws-detect") {
            try Converter.convertToBytes(
                LMUFormerConverter.self, checkpoint: try CheckpointReader.read(path: dir + "/checkpoint.safetensors"),
                config: try ConstructorConfig(path: dir + "/config.json"), options: ConvertOptions(labels: labels))
        }
        let sentence = try JSONDecoder().decode(
            Sentence.self, from: try Data(contentsOf: URL(fileURLWithPath: dir + "/sentence.json")))
        let pcm = try LMUFormerStreamTests.wav(dir: dir, "sentence.wav")
        return (try Model(bytes: bytes), pcm, sentence)
    }

    @Test(arguments: [160, 1, 1000, 100_000])
    func theKeywordModelFindsEachSpokenWord(piece: Int) throws {
        let (model, pcm, sentence) = try Self.kws()
        let stream = try model.makeStream(options: StreamOptions(input: .pcm, detector: DetectorOptions()))
        var found: [Detection] = []
        var i = 0
        while i < pcm.count {
            let n = min(piece, pcm.count - i)
            _ = try stream.pushPCM(Array(pcm[i..<(i + n)]))
            found += try stream.detections
            i += n
        }
        _ = try stream.flush()
        found += try stream.detections
        #expect(found.map(\.word) == sentence.words.map(\.word), "\(found)")
        // Each word is placed within the word or shortly after it (the model fires as the word ends).
        for (d, w) in zip(found, sentence.words) {
            #expect(d.seconds > w.start - 0.1 && d.seconds < w.end + 0.4, "\(d) for \(w.word) at \(w.start)–\(w.end) s")
            #expect(d.score >= 0.5)
        }
        // The stream listened to the whole sentence, past the model's clip length.
        #expect(try stream.report.values["frames_in"]?.first ?? 0 > 300)
    }

    @Test func theSameWordsOnAnyThreadCountAndFromAnAsyncSource() async throws {
        let (model, pcm, sentence) = try Self.kws()
        var times: [[Double]] = []
        for threads in [1, 2] {
            let stream = try model.makeStream(
                options: StreamOptions(input: .pcm, threads: threads, detector: DetectorOptions()))
            _ = try stream.pushPCM(pcm)
            var found = try stream.detections
            _ = try stream.flush()
            found += try stream.detections
            #expect(found.map(\.word) == sentence.words.map(\.word))
            times.append(found.map(\.seconds))
        }
        #expect(times[0] == times[1])
        // A microphone-like source: 100 ms chunks arriving one by one.
        let chunks = AsyncStream<[Int16]> { continuation in
            var i = 0
            while i < pcm.count {
                continuation.yield(Array(pcm[i..<min(pcm.count, i + 1600)]))
                i += 1600
            }
            continuation.finish()
        }
        let stream = try model.makeStream(options: StreamOptions(input: .pcm, detector: DetectorOptions()))
        var heard: [Detection] = []
        for try await word in stream.detections(for: chunks) { heard.append(word) }
        #expect(heard.map(\.seconds) == times[0])
    }
}
