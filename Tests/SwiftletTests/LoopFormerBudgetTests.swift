import Foundation
import Swiftlet
import SwiftletConvert
import Testing

/// LoopFormer budget knobs, error cases and converter options.
@Suite struct LoopFormerBudgetTests {
    /// Per-token FLOPs of the fixture model counted by hand (C=32, I=80, 2 blocks, V=101), at the
    /// 11 keys the last token of an 11-token call attends: 2·(8C² + 4CI + 4C·11) per step + 2CV head.
    static func fixtureFLOPs(loops: Int) -> Double {
        Double(loops * 2 * (8 * 32 * 32 + 4 * 32 * 80 + 4 * 32 * 11) + 2 * 32 * 101)
    }

    @Test func loopsPolicyMatchesTrainedTrajectories() throws {
        let session = try LoopFormerFixture.model().makeSession()
        let ids = try LoopFormerFixture.ids()
        // Counts that divide 8 and the mixed L=3 split reproduce the fixture trajectories and logits.
        for (loops, tag) in [(1, "L1"), (2, "L2"), (3, "L3mixed"), (4, "L4"), (8, "L8")] {
            let (logits, report) = try loopFormerRun(session, ids, budget: Budget(loops: loops))
            #expect(report.values["trajectory"] == (try LoopFormerFixture.steps(tag)))
            #expect(report.loops == loops)
            let (err, ok) = loopFormerCompare(logits, try LoopFormerFixture.gold(tag))
            #expect(ok, "loops \(loops): max abs error \(err)")
        }
        let (_, r5) = try loopFormerRun(session, ids, budget: Budget(loops: 5))
        #expect(r5.values["trajectory"] == [0.25, 0.25, 0.25, 0.125, 0.125])
        #expect(r5.choice == "loops=5 (0.25,0.25,0.25,0.125,0.125)")
        let (_, r7) = try loopFormerRun(session, ids, budget: Budget(loops: 7))
        #expect(r7.values["trajectory"] == [0.25] + [Double](repeating: 0.125, count: 6))
        // No budget: the full trajectory, max_model_loops steps.
        let (full, r8) = try loopFormerRun(session, ids, budget: Budget())
        #expect(r8.loops == 8)
        #expect(loopFormerCompare(full, try LoopFormerFixture.gold("L8")).ok)
        #expect(errorKind { _ = try loopFormerRun(session, ids, budget: Budget(loops: 9)) } == "budget")
        #expect(errorKind { _ = try loopFormerRun(session, ids, budget: Budget(loops: 0)) } == "budget")
    }

    @Test func explicitTrajectories() throws {
        let session = try LoopFormerFixture.model().makeSession()
        let ids = try LoopFormerFixture.ids()
        // Steps that are not multiples of 1/8 are accepted; cached decoding agrees with the whole run.
        let steps = [0.3, 0.7]
        let (whole, report) = try loopFormerRun(session, ids, budget: Budget(trajectory: steps))
        #expect(report.choice == "loops=2 (0.3,0.7)")
        let row = ids[0]
        try session.prefill([row[0], row[1]], budget: Budget(trajectory: steps))
        var cached = Array(try session.logits)
        for t in 2..<row.count {
            try session.decode(row[t])
            cached += Array(try session.logits)
        }
        #expect(loopFormerCompare(cached, whole[..<(row.count * LoopFormerFixture.vocab)]).ok)
        // Trajectory wins over loops; and it is not the L2 result.
        let (_, r) = try loopFormerRun(session, ids, budget: Budget(loops: 8, trajectory: [0.5, 0.5]))
        #expect(r.loops == 2)
        #expect(!loopFormerCompare(whole, try LoopFormerFixture.gold("L2")).ok)
        for bad in [[0.5, 0.4], [1.5, -0.5], [], [Double.nan, 1]] {
            #expect(
                errorKind { _ = try loopFormerRun(session, ids, budget: Budget(trajectory: bad)) } == "budget"
            )
        }
    }

    @Test func flopBudgetPicksTheLargestLoopCountThatFits() throws {
        let session = try LoopFormerFixture.model().makeSession()
        let ids = try LoopFormerFixture.ids()
        // Between 3 and 4 loop steps per token: 3, the mixed 3/8, 3/8, 2/8 trajectory.
        let limit = (Self.fixtureFLOPs(loops: 3) + Self.fixtureFLOPs(loops: 4)) / 2 * 1e-9
        for _ in 0..<2 {
            let (logits, report) = try loopFormerRun(session, ids, budget: Budget(maxGFLOPs: limit))
            #expect(report.loops == 3)
            #expect(report.choice == "loops=3 (0.375,0.375,0.25)")
            #expect(loopFormerCompare(logits, try LoopFormerFixture.gold("L3mixed")).ok)
        }
        let exact = Self.fixtureFLOPs(loops: 5) * 1e-9 * (1 + 1e-9)
        #expect(try loopFormerRun(session, ids, budget: Budget(maxGFLOPs: exact)).report.loops == 5)
        #expect(try loopFormerRun(session, ids, budget: Budget(maxGFLOPs: 1)).report.loops == 8)
        let tooSmall = Self.fixtureFLOPs(loops: 1) * 0.99e-9
        #expect(
            errorKind { _ = try loopFormerRun(session, ids, budget: Budget(maxGFLOPs: tooSmall)) } == "budget"
        )
        // The same limit chooses for a prefill (here 11 prompt tokens), and decode keeps the choice.
        let report = try session.prefill(ids[0], budget: Budget(maxGFLOPs: limit))
        #expect(report.loops == 3)
        #expect(try session.decode(ids[1][0]).loops == 3)
    }

    @Test func latencyBudgetChoosesAndReports() throws {
        let session = try LoopFormerFixture.model().makeSession()
        let ids = try LoopFormerFixture.ids()
        let generous = try session.prefill(ids[0], budget: Budget(maxLatencyMs: 10_000))
        #expect(generous.loops == 8)
        #expect(generous.choice.hasPrefix("loops=8 "))
        #expect(try loopFormerRun(session, ids, budget: Budget(maxLatencyMs: 10_000)).report.loops == 8)
        #expect(errorKind { try session.prefill(ids[0], budget: Budget(maxLatencyMs: 1e-9)) } == "budget")
        #expect(errorKind { try session.prefill(ids[0], budget: Budget(maxLatencyMs: -1)) } == "budget")
    }

    @Test func contextLimit() throws {
        let session = try LoopFormerFixture.model().makeSession()
        #expect(session.contextLength == LoopFormerFixture.blockSize)
        #expect(session.vocabSize == LoopFormerFixture.vocab)
        let full = (0..<LoopFormerFixture.blockSize).map { Int32($0 % 100) }
        try session.prefill(full, budget: Budget(loops: 2))
        #expect(try session.position == LoopFormerFixture.blockSize)
        #expect(errorKind { try session.decode(1) } == "contextFull")
        #expect(errorKind { try session.prefill(full + [1]) } == "contextFull")
        #expect(errorKind { _ = try loopFormerRun(session, [full + [1]], budget: Budget()) } == "contextFull")
        // Filling the context one token at a time ends the same way.
        try session.prefill(Array(full[..<30]), budget: Budget(loops: 1))
        try session.decode(full[30])
        try session.decode(full[31])
        #expect(errorKind { try session.decode(full[0]) } == "contextFull")
    }

    @Test func badInputs() throws {
        let session = try LoopFormerFixture.model().makeSession()
        #expect(errorKind { try session.decode(1) } == "state")
        for bad: Int32 in [101, -1, 1000] {
            #expect(
                errorKind { _ = try loopFormerRun(session, [[1, 2, bad]], budget: Budget()) }
                    == "invalidArgument")
            #expect(errorKind { try session.prefill([3, bad]) } == "invalidArgument")
        }
        #expect(errorKind { try session.prefill([]) } == "invalidArgument")
        try session.prefill([3, 4])
        #expect(errorKind { try session.decode(101) } == "invalidArgument")
        #expect(try session.position == 2)
        // Wrong dtype / rank.
        let floats: [Float] = [1, 2, 3]
        let kind = errorKind {
            try floats.withUnsafeBytes { raw in
                _ = try session.run(views: [TensorView(dtype: .f32, shape: [1, 3], data: raw.baseAddress!)])
            }
        }
        #expect(kind == "shape")
        let ids: [Int32] = [1, 2, 3]
        let rank = errorKind {
            try ids.withUnsafeBytes { raw in
                _ = try session.run(views: [TensorView(dtype: .i32, shape: [3], data: raw.baseAddress!)])
            }
        }
        #expect(rank == "shape")
        #expect(errorKind { _ = try session.run(views: []) } == "invalidArgument")
        #expect(
            errorKind { _ = try loopFormerRun(session, [[1, 2]], budget: Budget(mergeR: [2])) }
                == "unsupported")
    }

    @Test func abortBetweenLoopSteps() throws {
        final class Counter: @unchecked Sendable { var polls = 0 }
        let counter = Counter()
        let model = try LoopFormerFixture.model()
        let session = try model.makeSession(
            options: SessionOptions(shouldAbort: {
                counter.polls += 1
                return counter.polls > 3
            }))
        #expect(errorKind { try session.prefill([1, 2, 3], budget: Budget(loops: 8)) } == "aborted")
        #expect(counter.polls == 4) // polled before each loop step; the 4th stopped it
        // The aborted prefill left no sequence behind.
        #expect(errorKind { try session.decode(4) } == "state")
        // Three steps need three polls and finish.
        let fresh = try model.makeSession(options: SessionOptions(shouldAbort: { false }))
        #expect(try fresh.prefill([1, 2, 3], budget: Budget(loops: 3)).completed)
    }

    /// Hugging Face style (`gpt.` prefix, only `lm_head.weight`) and torch.compile/DDP prefixes
    /// (only `transformer.wte.weight`) convert to the same file; a wrong MLP width in the config is
    /// refused, naming the tensor shape.
    @Test func converterAcceptsPrefixesAndEitherTiedWeight() throws {
        let original = try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors"))
        let reference = try LoopFormerFixture.convert(original)
        func renamed(_ prefix: String, dropping: String) throws -> Checkpoint {
            let tensors = try original.tensors.filter { $0.name != dropping }.map {
                try CheckpointTensor(name: prefix + $0.name, dtype: $0.dtype, shape: $0.shape, bytes: $0.bytes)
            }
            return try Checkpoint(tensors: tensors, format: "safetensors")
        }
        #expect(try LoopFormerFixture.convert(renamed("gpt.", dropping: "transformer.wte.weight")) == reference)
        #expect(try LoopFormerFixture.convert(renamed("_orig_mod.module.", dropping: "lm_head.weight")) == reference)
        let wideConfig = try LoopFormerFixture.config { $0["intermediate_dim"] = 5120 }
        let wide = #expect(throws: ConvertError.self) { try LoopFormerFixture.convert(original, config: wideConfig) }
        #expect(wide?.message.contains("intermediate_dim = 5120") == true && wide?.message.contains("[80, 32]") == true)
        // max_model_loops is carried to the runtime.
        let twelve = try LoopFormerFixture.config { $0["max_model_loops"] = 12 }
        let model = try Model(bytes: try LoopFormerFixture.convert(original, config: twelve))
        let session = try model.makeSession()
        let r = try session.prefill([1, 2], budget: Budget(loops: 5))
        #expect(r.values["trajectory"] == [3, 3, 2, 2, 2].map { Double($0) / 12 })
        #expect(try session.prefill([1, 2]).loops == 12)
    }

    /// A KWARGS file read from JSON (where 1 and 0.0 are NSNumbers that also pass as Bool on Linux)
    /// with n_layer 1: the first block alone converts and runs.
    @Test func oneBlockConfigFromJSON() throws {
        let original = try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors"))
        let kept = original.tensors.filter { !$0.name.hasPrefix("transformer.h.blocks.1.") }
        let json =
            #"{"block_size": 32, "vocab_size": 101, "n_layer": 1, "n_head": 4, "n_embd": 32, "#
            + #""intermediate_dim": 80, "bias": false, "dropout": 0.0, "model_type": "loopformer", "max_model_loops": 1}"#
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loopformer-1blk-\(getpid()).json")
            .path
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes = try LoopFormerFixture.convert(
            try Checkpoint(tensors: kept, format: "safetensors"),
            config: try ConstructorConfig(path: path))
        let session = try Model(bytes: bytes).makeSession()
        let (logits, report) = try loopFormerRun(session, try LoopFormerFixture.ids(), budget: Budget())
        #expect(report.loops == 1)
        #expect(report.layers == 1)
        #expect(logits.count == 2 * 11 * LoopFormerFixture.vocab && logits.allSatisfy(\.isFinite))
        #expect(errorKind { _ = try loopFormerRun(session, [[1]], budget: Budget(loops: 2)) } == "budget")
    }

    /// bias=True checkpoints: with zero projection biases the logits equal the bias-free gold.
    @Test func zeroBiasesMatchTheBiasFreeModel() throws {
        let original = try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors"))
        var tensors = original.tensors
        for i in 0..<2 {
            for (name, n) in [("attn.c_attn", 96), ("attn.c_proj", 32), ("mlp.c_fc", 80), ("mlp.c_proj", 32)] {
                tensors.append(
                    try CheckpointTensor(
                        name: "transformer.h.blocks.\(i).\(name).bias", dtype: .f32,
                        shape: [n], bytes: [UInt8](repeating: 0, count: 4 * n)))
            }
        }
        let config = try LoopFormerFixture.config { $0["bias"] = true }
        let bytes = try LoopFormerFixture.convert(
            try Checkpoint(tensors: tensors, format: "safetensors"), config: config)
        #expect(try Model(bytes: bytes).metadataText("loopformer.bias") == "true")
        let session = try Model(bytes: bytes).makeSession()
        let (logits, _) = try loopFormerRun(session, try LoopFormerFixture.ids(), budget: Budget(loops: 4))
        #expect(loopFormerCompare(logits, try LoopFormerFixture.gold("L4")).ok)
        // Without bias=true in the config the biases are refused rather than dropped.
        #expect(throws: ConvertError.self) {
            _ = try LoopFormerFixture.convert(try Checkpoint(tensors: tensors, format: "safetensors"))
        }
    }

    @Test func converterRefusesMismatches() throws {
        let original = try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors"))
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("n_embd", { $0["n_embd"] = 64 }),
            ("n_layer", { $0["n_layer"] = 3 }),
            ("bias", { $0["bias"] = true }),
            ("n_head", { $0["n_head"] = 5 }),
            ("unknown key", { $0["n_kv_head"] = 2 }),
            ("vocab", { $0["vocab_size"] = 50304 }),
        ]
        for (what, edit) in cases {
            #expect(throws: ConvertError.self, "\(what)") {
                _ = try LoopFormerFixture.convert(original, config: try LoopFormerFixture.config(edit))
            }
        }
        // Untied weights are refused; an unknown tensor too.
        var tensors = original.tensors
        let i = tensors.firstIndex { $0.name == "lm_head.weight" }!
        var bytes = tensors[i].bytes
        bytes[0] ^= 0x40
        tensors[i] = try CheckpointTensor(
            name: "lm_head.weight", dtype: tensors[i].dtype, shape: tensors[i].shape, bytes: bytes)
        #expect(throws: ConvertError.self) {
            _ = try LoopFormerFixture.convert(try Checkpoint(tensors: tensors, format: "safetensors"))
        }
        let extra = try CheckpointTensor(
            name: "transformer.h.blocks.0.extra.weight", dtype: .f32, shape: [1], bytes: [0, 0, 0, 0])
        #expect(throws: ConvertError.self) {
            _ = try LoopFormerFixture.convert(
                try Checkpoint(tensors: original.tensors + [extra], format: "safetensors"))
        }
    }
}
