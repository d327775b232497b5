import Foundation
import SwiftletConvert
import Testing

@testable import Swiftlet

/// Each session owns its threads: two sessions with different thread counts, run at the same time
/// from two threads, each use their own count and give the answers they give alone.
@Suite struct ExecutionContextTests {
    /// A model and one run of it: the first output and the report.
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let model: @Sendable () throws -> Model
        let run: @Sendable (Session) throws -> ([Float], RunReport)
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "loopformer", model: { try LoopFormerFixture.model() },
            run: { session in
                try loopFormerRun(session, try LoopFormerFixture.ids(), budget: Budget())
            }),
        Case(
            name: "loopformer q8",
            model: {
                let checkpoint = try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors"))
                return try Model(
                    bytes: try LoopFormerFixture.convert(checkpoint, options: ConvertOptions(weightDType: .q8Row)))
            },
            run: { session in
                try loopFormerRun(session, try LoopFormerFixture.ids(), budget: Budget())
            }),
        Case(
            name: "memoryformer q8 tables",
            model: { try Model(bytes: try MemoryFormerFixture.convert(tables: .q8Row)) },
            run: { session in
                let c = try MemoryFormerFixture.cases()
                return try MemoryFormerFixture.run(session, ids: c.ids, batch: c.batch, length: c.length)
            }),
        Case(
            name: "memoryformer", model: { try Model(bytes: try MemoryFormerFixture.convert()) },
            run: { session in
                let c = try MemoryFormerFixture.cases()
                return try MemoryFormerFixture.run(session, ids: c.ids, batch: c.batch, length: c.length)
            }),
        lmuCase("lmuformer", fixture: "lmu-test"),
        lmuCase("spiking lmuformer", fixture: "slmu-ms-test"),
        Case(
            name: "vit", model: { try Model(bytes: try ViTFixture.convert("checkpoint.safetensors")) },
            run: { session in
                let (out, report) = try session.run([try ViTFixture.input()])
                return (out[0].values, report)
            }),
    ]

    /// An LMUFormer fixture's whole clip.
    static func lmuCase(_ name: String, fixture: String) -> Case {
        Case(
            name: name, model: { try Model(bytes: try LMUFixture.convert(fixture)) },
            run: { session in
                let fx = try LMUFixture.load(fixture)
                let (out, report) = try session.run([
                    Tensor(shape: [fx.batch, fx.frames, fx.features], values: fx.input)
                ])
                return (out[0].values, report)
            })
    }

    /// `count` runs of `c` on `session`: the output of each and the threads each reported.
    static func runs(_ c: Case, _ session: Session, count: Int) throws -> ([[Float]], [Int]) {
        var outputs: [[Float]] = []
        var threads: [Int] = []
        for _ in 0..<count {
            let (out, report) = try c.run(session)
            outputs.append(out)
            threads.append(report.threadsUsed)
        }
        return (outputs, threads)
    }

    @Test(arguments: cases)
    func sessionsKeepTheirOwnThreadsWhenRunTogether(_ c: Case) async throws {
        let model = try c.model()
        let one = try model.makeSession(options: SessionOptions(threads: 1))
        let two = try model.makeSession(options: SessionOptions(threads: 2))
        #expect(one.threads == 1)
        #expect(two.threads == 2)
        let (aloneOne, _) = try Self.runs(c, one, count: 1)
        let (aloneTwo, _) = try Self.runs(c, two, count: 1)

        async let first = Task.detached { try Self.runs(c, one, count: 30) }.value
        async let second = Task.detached { try Self.runs(c, two, count: 30) }.value
        let (outOne, usedOne) = try await first
        let (outTwo, usedTwo) = try await second

        // The one-thread session never runs on a helper; the other never on more than its two.
        #expect(usedOne.allSatisfy { $0 == 1 }, "\(usedOne)")
        #expect(usedTwo.allSatisfy { (1...2).contains($0) }, "\(usedTwo)")
        // Concurrency changes nothing: each session gives, bit for bit, what it gave alone.
        #expect(outOne.allSatisfy { $0 == aloneOne[0] })
        #expect(outTwo.allSatisfy { $0 == aloneTwo[0] })
        // And the thread count changes nothing either: work is cut by shape, not by threads.
        #expect(aloneOne[0] == aloneTwo[0])
    }

    /// A session made with two threads does use its helper: LoopFormer splits attention by heads.
    @Test func aTwoThreadSessionUsesBothThreads() throws {
        let model = try LoopFormerFixture.model()
        let session = try model.makeSession(options: SessionOptions(threads: 2))
        let ids = try LoopFormerFixture.ids()
        var seen = Set<Int>()
        for _ in 0..<200 where !seen.contains(2) {
            seen.insert(try loopFormerRun(session, ids, budget: Budget()).report.threadsUsed)
        }
        #expect(seen.contains(2), "threads used over 200 runs: \(seen)")
        #expect(seen.isSubset(of: [1, 2]))
    }
}
