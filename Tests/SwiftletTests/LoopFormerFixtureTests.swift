import Foundation
import Swiftlet
import SwiftletConvert
import Testing

/// LoopFormer against the official reference's golden logits, whole-sequence and through the cache.
@Suite struct LoopFormerFixtureTests {
    @Test func pthAndSafetensorsConvertToIdenticalBytes() throws {
        let fromPth = try LoopFormerFixture.convert("checkpoint.pth")
        let fromSafetensors = try LoopFormerFixture.convert("checkpoint.safetensors")
        #expect(!fromPth.isEmpty)
        #expect(fromPth == fromSafetensors)
        let model = try Model(bytes: fromPth)
        #expect(model.family == "loopformer")
        #expect(model.metadataText("loopformer.max_model_loops") == "8")
        #expect(model.metadataText("loopformer.n_head") == "4")
        #expect(model.inputs.map(\.name) == ["input_ids"])
        #expect(model.outputs.first?.shape == [-1, -1, LoopFormerFixture.vocab])
    }

    @Test(arguments: LoopFormerFixture.tags)
    func wholeSequence(_ tag: String) throws {
        let session = try LoopFormerFixture.model().makeSession()
        let steps = try LoopFormerFixture.steps(tag)
        let (logits, report) = try loopFormerRun(
            session, try LoopFormerFixture.ids(), budget: Budget(trajectory: steps))
        #expect(try session.lastOutputs[0].shape == [2, 11, LoopFormerFixture.vocab])
        let (err, ok) = loopFormerCompare(logits, try LoopFormerFixture.gold(tag))
        print("loopformer \(tag) whole-sequence max abs error \(err)")
        #expect(ok, "max abs error \(err)")
        #expect(report.loops == steps.count)
        #expect(report.layers == steps.count * 2)
        #expect(report.values["trajectory"] == steps)
        #expect(report.choice == "loops=\(steps.count) (" + steps.map { "\($0)" }.joined(separator: ",") + ")")
        #expect(report.gflops > 0)
    }

    /// prefill(first token) + decode(each next token): every position's logits from the cache.
    @Test(arguments: LoopFormerFixture.tags)
    func tokenByToken(_ tag: String) throws {
        let worst = try Self.cachedRun(tag) { _ in 1 }
        print("loopformer \(tag) token-by-token max abs error \(worst)")
    }

    /// prefill(a prefix, logits for every prompt position) + decode of the rest.
    @Test(arguments: LoopFormerFixture.tags)
    func prefixThenDecode(_ tag: String) throws {
        let worst = try Self.cachedRun(tag) { row in 4 + 3 * row }
        print("loopformer \(tag) prefix+decode max abs error \(worst)")
    }

    /// Each fixture row as a prefill of `prefix(row)` tokens (logits of every prompt position) and a
    /// decode of each later token, against the row's gold logits; returns the largest error.
    static func cachedRun(_ tag: String, prefix: (Int) -> Int) throws -> Float {
        let session = try LoopFormerFixture.model().makeSession()
        let steps = try LoopFormerFixture.steps(tag)
        let gold = try LoopFormerFixture.gold(tag)
        let V = LoopFormerFixture.vocab
        var worst: Float = 0
        for (b, row) in try LoopFormerFixture.ids().enumerated() {
            let n = prefix(b)
            let report = try session.prefill(Array(row[..<n]), budget: Budget(trajectory: steps))
            #expect(report.loops == steps.count)
            #expect(try session.logits.count == n * V)
            var got = Array(try session.logits)
            for t in n..<row.count {
                #expect(try session.position == t)
                let r = try session.decode(row[t])
                #expect(r.values["trajectory"] == steps)
                #expect(try session.logits.count == V)
                got += Array(try session.logits)
            }
            let (err, ok) = loopFormerCompare(got, gold[(b * row.count * V)..<((b + 1) * row.count * V)])
            worst = max(worst, err)
            #expect(ok, "row \(b), prefix \(n): max abs error \(err)")
        }
        return worst
    }

    /// A new prefill with another trajectory replaces the cache: the second sequence matches its own gold.
    @Test func newTrajectoryRecomputesThePrefix() throws {
        let session = try LoopFormerFixture.model().makeSession()
        let row = try LoopFormerFixture.ids()[0]
        let V = LoopFormerFixture.vocab
        try session.prefill(Array(row[..<5]), budget: Budget(loops: 8))
        try session.decode(row[5])
        try session.prefill(Array(row[..<6]), budget: Budget(loops: 2))
        try session.decode(row[6])
        let gold = try LoopFormerFixture.gold("L2")
        let (err, ok) = loopFormerCompare(Array(try session.logits), gold[(6 * V)..<(7 * V)])
        #expect(ok, "max abs error \(err)")
        #expect(try session.lastReport.loops == 2)
    }

    /// Greedy generation through the cache picks, at every step, the argmax of a whole-sequence run.
    @Test func greedyGenerationAgreesWithWholeSequence() throws {
        let session = try LoopFormerFixture.model().makeSession()
        let prompt = Array(try LoopFormerFixture.ids()[1][..<5])
        let (tokens, reports) = try session.generate(prompt: prompt, maxTokens: 6, budget: Budget(loops: 4))
        #expect(tokens.count == 6)
        #expect(reports.count == 6)
        #expect(reports.allSatisfy { $0.loops == 4 })
        let sequence = prompt + tokens.dropLast()
        let (logits, _) = try loopFormerRun(session, [sequence], budget: Budget(loops: 4))
        let V = LoopFormerFixture.vocab
        for (i, token) in tokens.enumerated() {
            let row = logits[((prompt.count - 1 + i) * V)..<((prompt.count + i) * V)]
            let argmax = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! - row.startIndex
            #expect(Int(token) == argmax, "token \(i)")
        }
    }
}
