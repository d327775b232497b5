import SwiftletModels
import Synchronization
import Testing

@testable import Swiftlet

/// The public Swift API on the built-in test model: every call, its errors and its contracts.
@Suite struct APITests {
    let model: Model

    init() throws {
        model = try Model(bytes: try TestModel.fileBytes())
    }

    /// The test model's math, written out independently: h ← h + relu(W h + b) per block, then the head.
    func expected(_ x: [Float], loops: Int) throws -> [Float] {
        let file = model.file
        var h = x
        for l in 0..<loops {
            let w = try file.floats("layers.\(l).weight")
            let b = try file.floats("layers.\(l).bias")
            var next = h
            for o in 0..<4 {
                var s = b[o]
                for i in 0..<4 { s += w[o * 4 + i] * h[i] }
                next[o] = h[o] + max(0, s)
            }
            h = next
        }
        let w = try file.floats("head.weight")
        let b = try file.floats("head.bias")
        return (0..<3).map { o in (0..<4).reduce(b[o]) { $0 + w[o * 4 + $1] * h[$1] } }
    }

    @Test func queries() {
        #expect(model.family == "test")
        #expect(model.inputs == [TensorInfo(name: "x", dtype: .f32, shape: [-1, 4])])
        #expect(model.outputs == [TensorInfo(name: "y", dtype: .f32, shape: [-1, 3])])
        #expect(model.metadataText("test.layers") == "4")
        #expect(model.metadataText("general.family") == "test")
        #expect(model.metadataText("missing") == nil)
    }

    @Test func labelsNameEachClass() throws {
        #expect(model.labels.isEmpty)
        let named = try Model(bytes: try TestModel.fileBytes(labels: ["low", "middle", "high"]))
        #expect(named.labels == ["low", "middle", "high"])
        // A list that does not match the classes is refused at load, never shown beside the wrong rows.
        #expect(errorKind { _ = try Model(bytes: try TestModel.fileBytes(labels: ["low", "high"])) } == "format")
        #expect(errorKind { _ = try Model(bytes: try TestModel.fileBytes(labels: ["low", "", "high"])) } == "format")
    }

    @Test(arguments: [1, 2, 3, 4])
    func runMatchesTheMath(loops: Int) throws {
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let x: [Float] = [0.5, -0.25, 1, 0, -1, 0.75, 0.1, 0.3]
        let (outputs, report) = try session.run([Tensor(shape: [2, 4], values: x)], budget: Budget(loops: loops))
        #expect(outputs[0].shape == [2, 3])
        for r in 0..<2 {
            let want = try expected(Array(x[(r * 4)..<(r * 4 + 4)]), loops: loops)
            for c in 0..<3 { #expect(abs(outputs[0].values[r * 3 + c] - want[c]) < 1e-6) }
        }
        #expect(report.loops == loops)
        #expect(report.choice == "loops=\(loops)")
        #expect(report.layers == 2 * loops)
        #expect(report.values["layers_used"] == [Double(loops)])
    }

    @Test func flopBudgetPicksTheMostLoopsThatFit() throws {
        let session = try model.makeSession()
        let x = Tensor(shape: [1, 4], values: [1, 2, 3, 4])
        let perLoop = 40e-9
        let head = 24e-9
        for loops in 1...4 {
            let r = try session.run([x], budget: Budget(maxGFLOPs: head + Double(loops) * perLoop + 1e-12)).report
            #expect(r.loops == loops)
            #expect(abs(r.gflops - (head + Double(loops) * perLoop)) < 1e-15)
        }
        #expect(throws: SwiftletError.self) { try session.run([x], budget: Budget(maxGFLOPs: 1e-12)) }
    }

    @Test func badInputsThrowTheirKind() throws {
        let session = try model.makeSession()
        func kind(_ body: () throws -> Void) -> String {
            do {
                try body()
                return "ok"
            } catch let e as SwiftletError {
                switch e {
                case .shape: return "shape"
                case .numeric: return "numeric"
                case .invalidArgument: return "invalidArgument"
                case .budget: return "budget"
                default: return "other: \(e)"
                }
            } catch {
                return "not a SwiftletError"
            }
        }
        #expect(kind { _ = try session.run([Tensor(shape: [1, 5], values: [1, 2, 3, 4, 5])]) } == "shape")
        #expect(kind { _ = try session.run([Tensor(shape: [1, 4], values: [1, .nan, 3, 4])]) } == "numeric")
        #expect(kind { _ = try session.run([]) } == "invalidArgument")
        #expect(
            kind { _ = try session.run([Tensor(shape: [1, 4], values: [1, 2, 3, 4])], budget: Budget(loops: 9)) }
                == "budget")
        #expect(
            kind {
                _ = try session.run(
                    [Tensor(shape: [1, 4], values: [1, 2, 3, 4])], budget: Budget(trajectory: [0.5, 0.4]))
            } == "budget")
        #expect(kind { _ = try model.makeSession(options: SessionOptions(threads: -1)) } == "invalidArgument")
    }

    @Test func abortStopsBetweenLayers() throws {
        let polls = Atomic<Int>(0)
        let session = try model.makeSession(
            options: SessionOptions(shouldAbort: {
                polls.add(1, ordering: .relaxed).newValue > 2
            }))
        #expect(throws: SwiftletError.self) { try session.run([Tensor(shape: [1, 4], values: [1, 2, 3, 4])]) }
        #expect(polls.load(ordering: .relaxed) == 3)
    }

    @Test func concurrentUseOfOneSessionIsBusy() async throws {
        let entered = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let session = try model.makeSession(
            options: SessionOptions(shouldAbort: {
                entered.store(true, ordering: .releasing)
                while !release.load(ordering: .acquiring) {}
                return false
            }))
        let x = Tensor(shape: [1, 4], values: [1, 2, 3, 4])
        let holder = Task.detached { try session.run([x]) }
        while !entered.load(ordering: .acquiring) { await Task.yield() }
        #expect(
            throws: SwiftletError.busy(
                "this session is already running a call on another thread; use one session per thread")
        ) {
            try session.run([x])
        }
        release.store(true, ordering: .releasing)
        _ = try await holder.value
    }

    @Test func cachedDecodeEqualsPrefill() throws {
        let session = try model.makeSession()
        try session.prefill([1, 2, 3, 4], budget: Budget(loops: 2))
        let full = Array(try session.logits)
        #expect(full.count == 4 * 6)
        try session.prefill([1, 2], budget: Budget(loops: 2))
        try session.decode(3)
        try session.decode(4)
        let last = Array(try session.logits)
        for i in 0..<6 { #expect(abs(last[i] - full[18 + i]) < 1e-6) }
        #expect(try session.position == 4)
        #expect(throws: SwiftletError.self) { try session.decode(6) }
    }

    @Test func generateIsReproducible() throws {
        let s1 = try model.makeSession()
        let s2 = try model.makeSession()
        let sampler = Sampler(temperature: 0.9, topK: 4)
        let a = try s1.generate(prompt: [1, 2], maxTokens: 8, sampler: sampler, seed: 42)
        let b = try s2.generate(prompt: [1, 2], maxTokens: 8, sampler: sampler, seed: 42)
        #expect(a.tokens == b.tokens)
        #expect(a.tokens.count == 8)
        #expect(a.reports.count == 8) // prefill + 7 decodes
        // The last sampled token is returned but not decoded: 2 prompt + 13 decoded positions.
        let greedy = try s1.generate(prompt: [1, 2], maxTokens: 14)
        #expect(greedy.tokens.count == 14)
        #expect(try s1.position == 15)
        // Generation stops when the 16-token context is full.
        let long = try s2.generate(prompt: [1, 2], maxTokens: 40)
        #expect(long.tokens.count == 15)
        #expect(try s2.position == 16)
    }

    @Test func samplerEdges() throws {
        var state: UInt64 = 1
        let logits: [Float] = [0.1, 2, 2, -1]
        try logits.withUnsafeBufferPointer { l in
            #expect(try Sampler().sample(l, state: &state) == 1) // ties → lowest index
            #expect(try Sampler(temperature: 5, topK: 1).sample(l, state: &state) == 1)
            for _ in 0..<50 {
                let t = try Sampler(temperature: 1, topK: 2).sample(l, state: &state)
                #expect(t == 1 || t == 2)
            }
            #expect(throws: SwiftletError.self) { try Sampler(temperature: -1).sample(l, state: &state) }
        }
    }

    /// Issue 11: with temperature > 0 a +inf logit made every weight NaN and the sampler returned
    /// the last index, even one whose logit was −inf; all −inf returned a token too.
    @Test func samplerRefusesNonFiniteLogitsAndNeverPicksAMaskedOne() throws {
        var state: UInt64 = 3
        func sample(_ logits: [Float], _ s: Sampler) throws(SwiftletError) -> Int32 {
            let r: Result<Int32, SwiftletError> = logits.withUnsafeBufferPointer { l in
                Result { () throws(SwiftletError) in try s.sample(l, state: &state) }
            }
            return try r.get()
        }
        func isNumeric(_ e: any Error) -> Bool {
            if case .numeric? = e as? SwiftletError { return true }
            return false
        }
        for s in [Sampler(), Sampler(temperature: 1), Sampler(temperature: 0.7, topK: 2)] {
            #expect { try sample([0, .infinity, -.infinity], s) } throws: { isNumeric($0) }
            #expect { try sample([0, .nan, 1], s) } throws: { isNumeric($0) }
            #expect { try sample([-.infinity, -.infinity], s) } throws: { isNumeric($0) }
            for _ in 0..<100 { #expect(try sample([-.infinity, 1, -.infinity], s) == 1) }
        }
        // Masked tokens never come out, whatever the draw; the others keep their odds.
        var seen = Set<Int32>()
        for _ in 0..<200 { seen.insert(try sample([-.infinity, 2, 1.5, -.infinity, 1], Sampler(temperature: 2))) }
        #expect(seen == [1, 2, 4])
        // A temperature so small that every other weight underflows still picks the best.
        #expect(try sample([1, 3, -.infinity], Sampler(temperature: 1e-30)) == 1)
    }

    @Test func streamMatchesChunkingAndStateRestore() throws {
        let frames: [Float] = (0..<40).map { Float(($0 * 37) % 11) / 11 - 0.5 }
        let one = try model.makeStream()
        var whole = try one.push(frames)
        #expect(whole.count == 9)
        whole += try one.flush()
        #expect(whole.count == 10)
        #expect(try one.report.framesUsed == 10)

        for chunk in [1, 3, 7] {
            let s = try model.makeStream()
            var rows: [[Float]] = []
            var i = 0
            while i < 10 {
                let end = min(10, i + chunk)
                rows += try s.push(Array(frames[(i * 4)..<(end * 4)]))
                i = end
                if i == 5 || (i > 5 && i - chunk < 5) {
                    // save mid-stream and continue on a fresh stream from the saved state
                    let saved = try s.saveState()
                    try s.reset()
                    try s.loadState(saved)
                }
            }
            rows += try s.flush()
            #expect(rows == whole)
        }
    }

    @Test func streamEarlyDecisionAndErrors() throws {
        let s = try model.makeStream()
        try s.setBudget(Budget(earlyFraction: 0.3, expectedFrames: 10))
        _ = try s.push((0..<40).map { Float($0) / 40 })
        #expect(try s.report.decided)
        #expect(try s.report.framesUsed == 3)
        #expect(throws: SwiftletError.self) { try s.setBudget(Budget(earlyFraction: 0.3)) }
        #expect(throws: SwiftletError.self) { try s.push([1, 2, 3]) }
        #expect(throws: SwiftletError.self) { try s.pushPCM([1, 2, 3]) }
        #expect(throws: SwiftletError.self) { try s.loadState([1, 2, 3]) }
        #expect(throws: SwiftletError.self) { try model.makeStream(options: StreamOptions(input: .pcm)) }
    }

    @Test func asyncStreamYieldsEveryRow() async throws {
        let frames: [Float] = (0..<40).map { Float($0 % 7) / 7 }
        let reference = try model.makeStream()
        var expected = try reference.push(frames)
        expected += try reference.flush()

        let chunks = AsyncStream<[Float]> { c in
            for i in stride(from: 0, to: 40, by: 8) { c.yield(Array(frames[i..<(i + 8)])) }
            c.finish()
        }
        var rows: [[Float]] = []
        for try await row in try model.makeStream().outputs(for: chunks) { rows.append(row) }
        #expect(rows == expected)
    }

    @Test func damagedFilesAreRefused() throws {
        let bytes = try TestModel.fileBytes()
        #expect(throws: SwiftletError.self) { try Model(bytes: Array(bytes.prefix(bytes.count / 2))) }
        #expect(throws: SwiftletError.self) { try Model(bytes: [UInt8](repeating: 7, count: 300)) }
        #expect(throws: SwiftletError.self) { try Model(path: "/nonexistent.swl") }
        var flipped = bytes
        flipped[flipped.count - 1] ^= 0x10
        #expect(throws: SwiftletError.self) { try Model(bytes: flipped, options: LoadOptions(verifyEagerly: true)) }
    }
}
