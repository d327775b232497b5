import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import SwiftletKernels
import Testing

@testable import SwiftletModels

@Suite struct LMUFormerStreamTests {
    // MARK: early decision

    @Test func earlyFractionStopsAtItsFrame() throws {
        let fx = try LMUFixture.load("lmu-test")
        let stream = try Model(bytes: fx.bytes).makeStream()
        try stream.setBudget(Budget(earlyFraction: 0.5, expectedFrames: 128))
        var rows: [Float] = []
        for start in stride(from: 0, to: fx.frames, by: 7) {
            rows += try stream.push(fx.frames(0, start..<min(start + 7, fx.frames))).flatMap { $0 }
        }
        #expect(try stream.flush().isEmpty)
        let report = try stream.report
        #expect(report.decided)
        #expect(!report.completed)
        #expect(report.framesUsed == 64)
        #expect(rows.count == 64 * fx.classes)
        #expect(lmuCompare(rows, fx.steps(0, 0..<64)).ok)
        // After a reset the same stream runs a whole clip again (the budget stays).
        try stream.reset()
        try stream.setBudget(Budget())
        let (all, _) = try lmuStream(stream, fx, clip: 0, chunk: 128)
        #expect(all.count == fx.frames * fx.classes)
        #expect(try !stream.report.decided)
    }

    @Test(arguments: ["lmu-test", "slmu-ms-test"])
    func earlyMarginStopsAtTheFirstConfidentFrame(name: String) throws {
        let fx = try LMUFixture.load(name)
        // Margins (top-1 − top-2) of the official per-step predictions; pick a threshold that a frame
        // clearly passes after every earlier frame clearly stays below it.
        let margins = (0..<fx.frames).map { t -> Float in
            let row = fx.steps(0, t..<(t + 1)).sorted(by: >)
            return row[0] - row[1]
        }
        // The first frame whose margin clearly beats every earlier one (or, failing that, frame 0).
        var decisionRow = 0
        var threshold = margins[0] - 1e-3
        var highest = margins[0]
        for t in 1..<fx.frames {
            if margins[t] > highest + 1e-3 {
                decisionRow = t
                threshold = (highest + margins[t]) / 2
                break
            }
            highest = max(highest, margins[t])
        }
        print("\(name): early margin \(threshold) decides at frame \(decisionRow + 1)")
        let stream = try Model(bytes: fx.bytes).makeStream()
        try stream.setBudget(Budget(earlyMargin: Double(threshold)))
        let (rows, _) = try lmuStream(stream, fx, clip: 0, chunk: 1)
        #expect(try stream.report.decided)
        #expect(try stream.report.framesUsed == decisionRow + 1)
        #expect(rows.count == (decisionRow + 1) * fx.classes)
    }

    @Test func budgetsThatDoNotApplyAreRefused() throws {
        let fx = try LMUFixture.load("lmu-test")
        let model = try Model(bytes: fx.bytes)
        let stream = try model.makeStream()
        #expect(throws: SwiftletError.self) { try stream.setBudget(Budget(loops: 2)) }
        #expect(throws: SwiftletError.self) { try stream.setBudget(Budget(earlyFraction: 0.5)) }
        #expect(throws: SwiftletError.self) { try stream.setBudget(Budget(earlyFraction: 1.5, expectedFrames: 128)) }
        #expect(throws: SwiftletError.self) { try stream.setBudget(Budget(earlyMargin: -1)) }
        #expect(throws: SwiftletError.self) { try stream.setBudget(Budget(maxGFLOPs: 1e-9)) }
        let session = try model.makeSession()
        let x = Tensor(shape: [1, fx.frames, fx.features], values: fx.frames(0, 0..<fx.frames))
        for budget in [Budget(earlyMargin: 1), Budget(loops: 1), Budget(maxGFLOPs: 1e-6)] {
            #expect(throws: SwiftletError.self) { try session.run([x], budget: budget) }
        }
        // A limit above the clip's cost is fine.
        let (out, report) = try session.run([x], budget: Budget(maxGFLOPs: 1))
        #expect(out[0].shape == [1, fx.classes])
        #expect(report.gflops > 0 && report.gflops < 1)
    }

    // MARK: bad input

    @Test func badFramesAreRefusedWithoutTouchingTheState() throws {
        let fx = try LMUFixture.load("slmu-ms-test")
        let model = try Model(bytes: fx.bytes)
        let stream = try model.makeStream()
        var rows = try stream.push(fx.frames(0, 0..<20)).flatMap { $0 }
        #expect(
            errorKind { _ = try stream.push([Float](repeating: 0, count: fx.features + 1)) } == "shape",
            "a frame of the wrong width was accepted")
        var bad = fx.frames(0, 20..<22)
        bad[fx.features + 3] = .nan
        #expect(errorKind { _ = try stream.push(bad) } == "numeric", "a NaN frame was accepted")
        #expect(throws: SwiftletError.self) { _ = try stream.pushPCM([Int16](repeating: 0, count: 160)) }
        // The refused pushes changed nothing: the clip still comes out right.
        rows += try stream.push(fx.frames(0, 20..<fx.frames)).flatMap { $0 }
        rows += try stream.flush().flatMap { $0 }
        #expect(lmuCompare(rows, fx.steps(0, 0..<fx.frames)).ok)
        // A flushed stream needs a reset.
        #expect(errorKind { _ = try stream.push(fx.frames(0, 0..<1)) } == "state", "a push after flush was accepted")
        try stream.reset()
        #expect(try stream.push(fx.frames(0, 0..<6)).count == 1)
    }

    @Test func badRunInputsAreRefused() throws {
        let fx = try LMUFixture.load("lmu-test")
        let session = try Model(bytes: fx.bytes).makeSession()
        let f = fx.features
        #expect(throws: SwiftletError.self) {
            try session.run([Tensor(shape: [1, 4, f + 1], values: .init(repeating: 0, count: 4 * (f + 1)))])
        }
        #expect(throws: SwiftletError.self) {
            try session.run([Tensor(shape: [4, f], values: .init(repeating: 0, count: 4 * f))])
        }
        #expect(throws: SwiftletError.self) { try session.run([Tensor(shape: [1, 0, f], values: [])]) }
        var nan = [Float](repeating: 0.5, count: 3 * f)
        nan[7] = .infinity
        #expect(throws: SwiftletError.self) { try session.run([Tensor(shape: [1, 3, f], values: nan)]) }
        let ok = Tensor(shape: [1, 3, f], values: .init(repeating: 0.5, count: 3 * f))
        #expect(throws: SwiftletError.self) { try session.run([ok, ok]) }
        // Very short clips run (the recurrence has no length limit): 1 frame gives 1 row.
        let (out, _) = try session.run([Tensor(shape: [1, 1, f], values: .init(repeating: 0.5, count: f))])
        #expect(out[1].shape == [1, 1, fx.classes])
        #expect(out[0].values == out[1].values)
    }

    @Test func abortStopsRunsAndPushes() throws {
        let fx = try LMUFixture.load("lmu-test")
        let model = try Model(bytes: fx.bytes)
        let x = Tensor(shape: [1, fx.frames, fx.features], values: fx.frames(0, 0..<fx.frames))
        let session = try model.makeSession(options: SessionOptions(threads: 1, shouldAbort: { true }))
        #expect(errorKind { _ = try session.run([x]) } == "aborted", "an aborted run returned")
        let stream = try model.makeStream(options: StreamOptions(shouldAbort: { true }))
        #expect(errorKind { _ = try stream.push(fx.frames(0, 0..<10)) } == "aborted", "an aborted push returned")
        // The abort came before any frame was taken: the stream is intact.
        #expect(try stream.report.values["frames_in"] == [0])
    }

    // MARK: PCM through the front end

    static func wav(dir: String = LMUFixture.directory("fbank-test"), _ name: String) throws -> [Int16] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
        let b = [UInt8](data)
        var o = 12
        while o + 8 <= b.count {
            let size = Int(b[o + 4]) | Int(b[o + 5]) << 8 | Int(b[o + 6]) << 16 | Int(b[o + 7]) << 24
            if b[o] == UInt8(ascii: "d") && b[o + 1] == UInt8(ascii: "a") {
                return (0..<(size / 2)).map {
                    Int16(bitPattern: UInt16(b[o + 8 + 2 * $0]) | UInt16(b[o + 9 + 2 * $0]) << 8)
                }
            }
            o += 8 + size + (size & 1)
        }
        throw SwiftletError.format("no data chunk in \(name)")
    }

    /// The model input the data loader makes from a clip: fbank with the model's mel bins, pad/cut to
    /// 128 frames, normalised.
    static func loaderInput(_ pcm: [Int16], bins: Int) throws -> [Float] {
        var options = FbankOptions()
        options.numMelBins = bins
        let (frames, values) = try pcm.withUnsafeBufferPointer {
            try FbankExtractor.features(pcm: $0, options: options)
        }
        return try FbankNormalization.speechCommands.modelInput(features: values, frames: frames, bins: bins)
    }

    @Test(arguments: ["clip0.wav", "clip1.wav", "both"])
    func pcmStreamIsFrontEndPlusModel(clip: String) throws {
        let fx = try LMUFixture.load("slmu-ms-test")
        let model = try Model(bytes: fx.bytes)
        let pcm = clip == "both" ? try Self.wav("clip0.wav") + Self.wav("clip1.wav") : try Self.wav(clip)
        let x = try Self.loaderInput(pcm, bins: fx.features)
        let (want, _) = try model.makeSession().run([Tensor(shape: [1, 128, fx.features], values: x)])
        let stream = try model.makeStream(options: StreamOptions(input: .pcm))
        var rows: [Float] = []
        var i = 0
        var p = 0
        let pieces = [160, 7, 1000, 3333, 1]
        while i < pcm.count {
            let n = min(pieces[p % pieces.count], pcm.count - i)
            rows += try stream.pushPCM(Array(pcm[i..<(i + n)])).flatMap { $0 }
            i += n
            p += 1
        }
        let beforeFlush = rows.count / fx.classes
        rows += try stream.flush().flatMap { $0 }
        let (err, ok) = lmuCompare(rows, want[1].values)
        #expect(ok, "\(clip): max abs error \(err)")
        // A clip longer than 128 frames is cut there and ends by itself, like the data loader's.
        if clip == "both" { #expect(beforeFlush == 128) }
        #expect(try stream.report.framesUsed == 128)
    }

    @Test func pcmStateSaveAndRestoreMidFrame() throws {
        let fx = try LMUFixture.load("lmu-test")
        let model = try Model(bytes: fx.bytes)
        let pcm = try Self.wav("clip1.wav")
        let a = try model.makeStream(options: StreamOptions(input: .pcm))
        var rowsA = try a.pushPCM(Array(pcm[0..<4321])).flatMap { $0 }
        let state = try a.saveState()
        let b = try model.makeStream(options: StreamOptions(input: .pcm))
        try b.loadState(state)
        var rowsB = rowsA
        rowsA += try a.pushPCM(Array(pcm[4321...])).flatMap { $0 } + (try a.flush().flatMap { $0 })
        rowsB += try b.pushPCM(Array(pcm[4321...])).flatMap { $0 } + (try b.flush().flatMap { $0 })
        #expect(rowsA == rowsB)
        #expect(rowsA.count == 128 * fx.classes)
        // A frames stream's state does not load into a PCM stream.
        #expect(throws: SwiftletError.self) { try model.makeStream().loadState(state) }
    }

    // MARK: allocation

    @Test(arguments: ["lmu-test", "slmu-ms-test"])
    func pushesAllocateNothing(name: String) throws {
        let fx = try LMUFixture.load(name)
        let file = try fx.bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        let model = try LMUFormerModel(file: file)
        let streamer = try #require(
            try model.makeStreamer(input: .frames, context: ExecutionContext(threads: 1)) as? LMUFormerStreamer)
        let frames = fx.frames(0, 0..<fx.frames)
        try frames.withUnsafeBufferPointer { all in
            func push(_ t: Int, _ n: Int) throws {
                _ = try streamer.push(UnsafeBufferPointer(rebasing: all[(t * fx.features)..<((t + n) * fx.features)]))
            }
            // Warm up every path once (first rows, chunked blocks, a flush).
            try push(0, 32)
            try push(32, 7)
            try push(39, 1)
            _ = try streamer.flush()
            streamer.reset()
            let chunks = streamer.engine.arena.chunkAllocations
            let rows = streamer.outputRows.baseAddress
            for round in 0..<3 {
                var t = 0
                for n in [1, 7, 32, 1, 1, 20, 7] where t + n <= fx.frames {
                    try push(t, n)
                    t += n
                }
                _ = try streamer.flush()
                if round < 2 { streamer.reset() }
            }
            #expect(streamer.engine.arena.chunkAllocations == chunks)
            #expect(streamer.outputRows.baseAddress == rows)
        }
        #expect(streamer.stateSize < 64 * 1024)
    }
}
