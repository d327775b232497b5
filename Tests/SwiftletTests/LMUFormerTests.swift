import Foundation
import Swiftlet
import SwiftletConvert
import Testing

@Suite struct LMUFormerTests {
    static let fixtures = ["lmu-test", "slmu-ms-test"]

    @Test(arguments: fixtures)
    func pthAndSafetensorsConvertToTheSameBytes(name: String) throws {
        let a = try LMUFixture.convert(name, checkpoint: "checkpoint.pth")
        let b = try LMUFixture.convert(name, checkpoint: "checkpoint.safetensors")
        #expect(!a.isEmpty)
        #expect(a == b)
    }

    @Test(arguments: fixtures)
    func wholeClipMatchesTheOfficialOutputs(name: String) throws {
        let fx = try LMUFixture.load(name)
        let model = try Model(bytes: fx.bytes)
        #expect(model.family == "lmuformer")
        #expect(model.outputs.map(\.name) == ["logits", "logits_per_step"])
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let (outputs, report) = try session.run([Tensor(shape: [fx.batch, fx.frames, fx.features], values: fx.input)])
        #expect(outputs[0].shape == [fx.batch, fx.classes])
        #expect(outputs[1].shape == [fx.batch, fx.frames, fx.classes])
        let (e0, ok0) = lmuCompare(outputs[0].values, fx.logits)
        let (e1, ok1) = lmuCompare(outputs[1].values, fx.perStep)
        print("\(name) whole clip: logits max abs error \(e0), logits_per_step \(e1)")
        #expect(ok0, "logits max abs error \(e0)")
        #expect(ok1, "logits_per_step max abs error \(e1)")
        #expect(report.framesUsed == fx.frames)
        #expect(report.gflops > 0)
        // The per-layer spike rates and the LMU inputs' activity equal the official run's.
        let rates = fx.config["lif_spike_rates"] as? [Double] ?? []
        #expect((report.values["spike_rate"] ?? []) == rates)
        if let alive = fx.config["lmu_u_alive_fraction"] as? [Double], fx.batch == 1 || rates.isEmpty {
            let got = report.values["u_active_fraction"] ?? []
            #expect(got.count == alive.count)
            for (g, w) in zip(got, alive) { #expect(abs(g - w) < 1e-12) }
        }
    }

    @Test(arguments: fixtures, [1, 7, 128])
    func streamingReproducesEveryStep(name: String, chunk: Int) throws {
        let fx = try LMUFixture.load(name)
        let model = try Model(bytes: fx.bytes)
        let stream = try model.makeStream()
        #expect(stream.frameWidth == fx.features)
        #expect(stream.outputWidth == fx.classes)
        var worst: Float = 0
        for b in 0..<fx.batch {
            try stream.reset()
            let (rows, counts) = try lmuStream(stream, fx, clip: b, chunk: chunk)
            #expect(counts, "a push emitted rows before their look-ahead arrived, or held them back")
            let (err, ok) = lmuCompare(rows, fx.steps(b, 0..<fx.frames))
            worst = max(worst, err)
            #expect(ok, "clip \(b), chunk \(chunk): max abs error \(err)")
            // The last row is the official 'normal' output.
            let last = Array(rows.suffix(fx.classes))
            #expect(try lmuCompare(last, Array(fx.logits[(b * fx.classes)..<((b + 1) * fx.classes)])).ok)
            #expect(try stream.report.framesUsed == fx.frames)
        }
        print("\(name) stream chunk \(chunk): max abs error \(worst)")
        if let rates = fx.config["lif_spike_rates"] as? [Double], !rates.isEmpty, fx.batch == 1 {
            #expect(try stream.report.values["spike_rate"] == rates)
        }
    }

    @Test(arguments: fixtures)
    func stateSaveAndRestoreMidStream(name: String) throws {
        let fx = try LMUFixture.load(name)
        let model = try Model(bytes: fx.bytes)
        let a = try model.makeStream()
        var rowsA = try a.push(fx.frames(0, 0..<43)).flatMap { $0 }
        let state = try a.saveState()
        #expect(state.count == a.stateSize)
        #expect(a.stateSize < 64 * 1024)
        let b = try model.makeStream()
        try b.loadState(state)
        var rowsB = rowsA
        for start in stride(from: 43, to: fx.frames, by: 9) {
            let chunk = fx.frames(0, start..<min(start + 9, fx.frames))
            rowsA += try a.push(chunk).flatMap { $0 }
            rowsB += try b.push(chunk).flatMap { $0 }
        }
        rowsA += try a.flush().flatMap { $0 }
        rowsB += try b.flush().flatMap { $0 }
        #expect(rowsA == rowsB)
        let (err, ok) = lmuCompare(rowsB, fx.steps(0, 0..<fx.frames))
        #expect(ok, "restored stream: max abs error \(err)")
        #expect(try a.report.values["spike_rate"] == b.report.values["spike_rate"])

        // A damaged state, a truncated one, or one of another model is refused.
        var damaged = state
        damaged[damaged.count / 2] ^= 0x40
        #expect(throws: SwiftletError.self) { try b.loadState(damaged) }
        #expect(throws: SwiftletError.self) { try b.loadState(Array(state.dropLast())) }
        let other = try Model(bytes: try LMUFixture.convert(name == "lmu-test" ? "slmu-ms-test" : "lmu-test"))
        #expect(throws: SwiftletError.self) { try other.makeStream().loadState(state) }
        // A stream that failed to load is reset; loading the good state again resumes it exactly.
        try b.loadState(state)
        var again: [Float] = []
        for start in stride(from: 43, to: fx.frames, by: 9) {
            again += try b.push(fx.frames(0, start..<min(start + 9, fx.frames))).flatMap { $0 }
        }
        again += try b.flush().flatMap { $0 }
        #expect(Array(rowsA.suffix(again.count)) == again)
        print("\(name): stream state \(state.count) bytes")
    }

    @Test func longClipsRunPastTheOfficialLength() throws {
        // The official whole-clip path takes exactly 128 frames; the recurrence takes any length, and a
        // run in 128-frame steps (the memory carried by the blocked scan) equals a frame-by-frame stream.
        for name in Self.fixtures {
            let fx = try LMUFixture.load(name)
            let model = try Model(bytes: fx.bytes)
            let frames = 300
            var x: [Float] = []
            while x.count < frames * fx.features { x += fx.frames(0, 0..<fx.frames) }
            x = Array(x.prefix(frames * fx.features)).enumerated().map {
                $0.element * (1 + 0.1 * sin(Float($0.offset) * 0.01))
            }
            let session = try model.makeSession(options: SessionOptions(threads: 1))
            let (outputs, _) = try session.run([Tensor(shape: [1, frames, fx.features], values: x)])
            let stream = try model.makeStream()
            var rows: [Float] = []
            for t in 0..<frames {
                rows += try stream.push(Array(x[(t * fx.features)..<((t + 1) * fx.features)])).flatMap { $0 }
            }
            rows += try stream.flush().flatMap { $0 }
            let (err, ok) = lmuCompare(rows, outputs[1].values)
            print("\(name) 300 frames, stream vs whole clip: max abs error \(err)")
            #expect(ok, "\(name): max abs error \(err)")
            // Chunks of 32 (the stream's step) and 100 use the blocked scan from a non-zero state.
            for chunk in [32, 100] {
                try stream.reset()
                var chunked: [Float] = []
                for start in stride(from: 0, to: frames, by: chunk) {
                    chunked += try stream.push(
                        Array(x[(start * fx.features)..<(min(start + chunk, frames) * fx.features)])
                    ).flatMap { $0 }
                }
                chunked += try stream.flush().flatMap { $0 }
                let (e2, ok2) = lmuCompare(chunked, outputs[1].values)
                #expect(ok2, "\(name) chunk \(chunk): max abs error \(e2)")
            }
        }
    }
}
