import Foundation
import SwiftletConvert
import SwiftletFormat
import Testing

@testable import Swiftlet
@testable import SwiftletModels

/// The latency controller's logic, on a clock the test drives: what a budget chooses from measured
/// costs, how the tail widens the plan, when a call corrects its schedule, and what the report says.
/// Speed itself is measured in Benchmarks/, never asserted here.
@Suite struct BudgetControllerTests {
    /// A clock that moves only when read: `tick` µs per read, plus whatever the test adds.
    final class FakeClock: @unchecked Sendable {
        var now = 0.0
        var tick = 10.0
        /// Reads left before `jump` is added once (a stall in the middle of a call).
        var readsBeforeJump: Int?
        var jump = 0.0

        func read() -> Double {
            now += tick
            if let n = readsBeforeJump {
                if n == 0 {
                    now += jump
                    readsBeforeJump = nil
                } else {
                    readsBeforeJump = n - 1
                }
            }
            return now
        }
    }

    // MARK: the tail

    @Test func tailPlansForTheHighPercentileWithAPriorUntilEnoughCalls() {
        var tail = LatencyTail()
        #expect(tail.ratio(at: 0.95) == LatencyTail.priorRatio)
        for _ in 0..<3 { tail.observe(predicted: 100, actual: 100) }
        // Three calls seen: the five missing ones still count as the prior margin.
        #expect(tail.ratio(at: 0.95) == LatencyTail.priorRatio)
        #expect(tail.ratio(at: 0.25) == 1.0)
        // 40 calls: 38 on time, two 50 % slow: the p95 (nearest rank 38 of 40) is on time, the max is not.
        tail = LatencyTail()
        for i in 0..<40 { tail.observe(predicted: 100, actual: i % 20 == 19 ? 150 : 100) }
        #expect(tail.ratio(at: 0.95) == 1.0)
        #expect(tail.ratio(at: 1.0) == 1.5)
        // Drift: a window of slow calls moves the plan.
        for _ in 0..<LatencyTail.window { tail.observe(predicted: 100, actual: 130) }
        #expect(tail.ratio(at: 0.95) == 1.3)
        #expect(tail.tail(200) == 260)
        // Nonsense observations are ignored.
        tail.observe(predicted: 0, actual: 5)
        tail.observe(predicted: 10, actual: .nan)
        #expect(tail.count == LatencyTail.window)
    }

    @Test func costCurveInterpolatesBetweenMeasuredTokenCountsAndScalesBeyond() {
        var curve = CostCurve(maxTokens: 100)
        #expect(curve.isEmpty)
        curve.observe(tokens: 20, microseconds: 200)
        curve.observe(tokens: 60, microseconds: 1000)
        #expect(curve.value(at: 40) == 600)
        #expect(curve.value(at: 10) == 100) // proportional below the first point
        #expect(curve.value(at: 90) == 1500) // and above the last
        // Repeated measurements keep the least: a slower one changes nothing, a faster one replaces it.
        curve.observe(tokens: 60, microseconds: 2000)
        #expect(curve.value(at: 60) == 1000)
        curve.observe(tokens: 60, microseconds: 800)
        #expect(curve.value(at: 60) == 800)
    }

    // MARK: the ViT's choice

    /// The ViT fixture's model (4 blocks, 65 tokens, 1 prefix token) with a cost table in which a
    /// block's attention part costs 10 µs per token, its MLP part 20 µs per token and a merge 1 µs
    /// per token, plus 60 µs for the embedding and 40 µs for the head.
    static func syntheticCosts(_ model: ViTModel) -> ViTCostModel {
        var costs = ViTCostModel(maxTokens: model.config.tokens)
        for t in stride(from: 3, through: model.config.tokens, by: 2) {
            let block = BlockTiming(
                tokensIn: t, merged: 1, attention: 10 * Double(t), merge: Double(t), mlp: 20 * Double(t - 1))
            costs.observeCalibration(batch: 1, timing: ForwardTiming(blocks: [block], embed: 60, head: 40))
        }
        costs.calibrationMicroseconds = 1
        return costs
    }

    /// What the synthetic table gives a plan, computed here from the plan's token counts.
    static func syntheticMicroseconds(_ plan: TokenPlan) -> Double {
        var us = 100.0
        for (t, r) in zip(plan.tokensIn, plan.merged) {
            us += 10 * Double(t) + 20 * Double(t - r) + (r > 0 ? Double(t) : 0)
        }
        return us
    }

    static func vitModel() throws -> ViTModel {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        return model.impl as! ViTModel
    }

    @Test func latencyBudgetPicksTheGentlestConstantRWhoseTailFits() throws {
        let model = try Self.vitModel()
        let c = model.config
        var costs = Self.syntheticCosts(model)
        let plan = { (r: Int) in TokenPlan([Int](repeating: r, count: c.depth), c) }
        let full = Self.syntheticMicroseconds(plan(0))
        #expect(costs.predict(plan(0), batch: 1) == full)
        // With no call observed, the plan is the prediction times the prior margin.
        for fraction in [0.6, 0.75, 0.9, 1.0, 1.2] {
            let limitUs = full * fraction
            let usable = limitUs * (1 - ViTCostModel.deadlineMargin)
            let expected = (0...32).first { Self.syntheticMicroseconds(plan($0)) * LatencyTail.priorRatio <= usable }
            let result = Result {
                try model.chooseSchedule(Budget(maxLatencyMs: limitUs / 1000), images: 1, costs: &costs)
            }
            if let expected {
                let c = try result.get()
                #expect(c.schedule == .constant(expected), "limit \(fraction) of full")
                #expect(c.plan == plan(expected))
                #expect(c.predicted == Self.syntheticMicroseconds(plan(expected)) * LatencyTail.priorRatio)
                #expect(c.quality == nil)
            } else {
                #expect(throws: ModelError.self) { try result.get() }
            }
        }
        // Calls that ran 20 % over the table move the plan: the same limit now needs a harsher r.
        let limitUs = full * 0.9
        let before = try model.chooseSchedule(Budget(maxLatencyMs: limitUs / 1000), images: 1, costs: &costs).schedule
        for _ in 0..<LatencyTail.window {
            costs.observeTail(batch: 1, predicted: 1000, actual: 1300)
        }
        let after = try model.chooseSchedule(Budget(maxLatencyMs: limitUs / 1000), images: 1, costs: &costs).schedule
        guard case .constant(let r0) = before, case .constant(let r1) = after else {
            Issue.record("expected constant schedules, got \(before) and \(after)")
            return
        }
        #expect(r1 > r0)
        let usable = limitUs * (1 - ViTCostModel.deadlineMargin)
        #expect(Self.syntheticMicroseconds(plan(r1)) * 1.3 <= usable)
        #expect(Self.syntheticMicroseconds(plan(r1 - 1)) * 1.3 > usable)
        // A batch never measured is priced as that many images.
        #expect(costs.predict(plan(0), batch: 3) == 3 * full)
        // A call run alone (the helper threads kept earlier calls waiting) is first priced as the
        // session's thread count times the threaded one, then by what such calls measured.
        var twoThreads = ViTCostModel(maxTokens: c.tokens, threads: 2)
        let block = BlockTiming(tokensIn: c.tokens, merged: 0, attention: 100, merge: 0, mlp: 200)
        twoThreads.observeCalibration(batch: 1, timing: ForwardTiming(blocks: [block], embed: 10, head: 10))
        twoThreads.calibrationMicroseconds = 1
        let predictedThreaded = twoThreads.predict(plan(0), batch: 1)
        let threaded = try #require(predictedThreaded)
        #expect(twoThreads.predict(plan(0), batch: 1, alone: true) == 2 * threaded)
        let aloneBlock = BlockTiming(tokensIn: c.tokens, merged: 0, attention: 150, merge: 0, mlp: 300)
        twoThreads.observe(
            plan(0), batch: 1, alone: true, timing: ForwardTiming(blocks: [aloneBlock], embed: 15, head: 15), total: 1)
        #expect(twoThreads.predict(plan(0), batch: 1, alone: true) == Double(c.depth) * 450 + 30)
        #expect(twoThreads.predict(plan(0), batch: 1) == threaded)
    }

    @Test func correctionMergesHarderOnlyWhenTheRestWouldOverrun() throws {
        let model = try Self.vitModel()
        let c = model.config
        var costs = Self.syntheticCosts(model)
        let planned = TokenPlan([Int](repeating: 2, count: c.depth), c)
        // The blocks after block 1 and the head.
        let rest = { (p: TokenPlan) in
            zip(p.tokensIn, p.merged).dropFirst(2).reduce(40.0) { us, b in
                us + 10 * Double(b.0) + 20 * Double(b.0 - b.1) + (b.1 > 0 ? Double(b.0) : 0)
            }
        }
        // Enough time: no change.
        #expect(
            model.correctedPlan(planned, after: 1, available: rest(planned) + 1, batch: 1, ratio: 1, costs: &costs)
                == nil)
        // 10 % short: the blocks after block 1 merge at least r', the smallest that fits.
        let available = rest(planned) * 0.9
        let corrected = try #require(
            model.correctedPlan(planned, after: 1, available: available, batch: 1, ratio: 1, costs: &costs))
        #expect(Array(corrected.merged[0...1]) == Array(planned.merged[0...1]))
        #expect(rest(corrected) <= available)
        let rPrime = corrected.requested[2]
        #expect(corrected.requested[2...].allSatisfy { $0 == rPrime })
        let gentler = TokenPlan(Array(planned.merged[0...1]) + [Int](repeating: rPrime - 1, count: c.depth - 2), c)
        #expect(rest(gentler) > available)
        // No time at all: as hard as the caps allow.
        let harshest = try #require(
            model.correctedPlan(planned, after: 1, available: 0, batch: 1, ratio: 1, costs: &costs))
        let t = planned.tokensOut[1]
        #expect(harshest.merged[2] == (t - c.prefix) / 2)
        // After the last block there is nothing left to change.
        #expect(
            model.correctedPlan(planned, after: c.depth - 1, available: 0, batch: 1, ratio: 1, costs: &costs) == nil)
    }

    // MARK: a whole call on the fake clock

    /// A ViT runner on the fake clock, its calibration run.
    static func runner(_ clock: FakeClock) throws -> ViTRunner {
        let model = try vitModel()
        let context = ExecutionContext(threads: 1, clock: { clock.read() })
        let runner = try model.makeRunner(context: context) as! ViTRunner
        try runner.calibrate()
        return runner
    }

    @Test func aStallInsideTheCallMakesTheRemainingBlocksMergeHarder() throws {
        let clock = FakeClock()
        let runner = try Self.runner(clock)
        #expect(runner.costs.isCalibrated)
        #expect(runner.costs.calibrationMicroseconds! > 0)
        let input = try ViTFixture.input()
        // On this clock every timed part costs one tick whatever its tokens, so a budget of the full
        // model's planned time chooses r = 0 and meets it.
        let batch = input.shape[0]
        let predictedFull = runner.costs.predictTail(TokenPlan([0, 0, 0, 0], runner.model.config), batch: batch)
        let full = try #require(predictedFull)
        let budget = Budget(maxLatencyMs: (full + 200) / 1000)
        let quiet = try Self.call(runner, input, budget)
        #expect(quiet.choice == "r=0")
        #expect(quiet.values["corrected_after_block"] == nil)
        #expect(quiet.deadlineMet == true)
        #expect(quiet.predictedMicroseconds == full)
        // A stall of the whole budget during block 1: after it, the rest cannot fit, so blocks 2 and 3
        // merge as hard as the caps allow, and the report says so.
        clock.readsBeforeJump = 8
        clock.jump = full + 200
        let stalled = try Self.call(runner, input, budget)
        let correctedAt = try #require(stalled.values["corrected_after_block"]?.first)
        let merged = try #require(stalled.values["merged_per_layer"])
        #expect(merged[0] == 0)
        #expect(merged[Int(correctedAt) + 1] > 0)
        #expect(stalled.choice.hasPrefix("r=0, then r=["))
        #expect(stalled.choice.hasSuffix("to meet the deadline"))
        #expect(stalled.deadlineMet == false)
        #expect(stalled.tokensKept < 65)
    }

    /// One run through the execution context, as a session makes it (`Session.runLocked`).
    static func call(_ runner: ViTRunner, _ input: Tensor, _ budget: Budget) throws -> RunReport {
        let context = runner.context
        context.begin()
        if let limit = budget.maxLatencyMs { context.deadline = context.callStart + limit * 1000 }
        try input.values.withUnsafeBytes { bytes in
            let view = TensorView(dtype: .f32, shape: input.shape, data: bytes.baseAddress!)
            _ = try runner.run([view], budget: budget)
        }
        return context.finish()
    }

    @Test func unbudgetedCallsTeachNothingAndTheFirstLatencyLimitCalibrates() throws {
        let session = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors")).makeSession()
        let input = try ViTFixture.input()
        for _ in 0..<2 {
            let (_, plain) = try session.run([input])
            #expect(plain.values["calibration_us"] == nil)
        }
        let (_, limited) = try session.run([input], budget: Budget(maxLatencyMs: 10_000))
        #expect(limited.values["calibration_us"]?.first ?? 0 > 0)
        #expect(limited.predictedMicroseconds > 0)
    }

    // MARK: LoopFormer

    @Test func loopFormerPlansTheDecodeStepAtTheContextTheGenerationReaches() throws {
        let model = try LoopFormerFixture.model().impl as! LoopFormerModel
        // 100 µs fixed, 50 µs per loop step at 16 keys; the attention part grows with the keys.
        let cost = LoopFormerDecodeCost(fixed: 100, perLoop: 50, keys: 16, prefillPerLoop: 400, prefillTokens: 16)
        #expect(cost.predict(loops: 3, keys: 16, model: model) == 250)
        #expect(cost.predict(loops: 1, keys: 64, model: model) > 150)
        #expect(cost.predictTail(loops: 1, keys: 16, model: model) == 150 * LoopFormerDecodeCost.priorRatio)
        for limitUs in [150.0, 260.0, 340.0, 900.0] {
            let steps = try model.chooseTrajectory(Budget(maxLatencyMs: limitUs / 1000), keys: 16) {
                cost.predict(loops: $0, keys: 16, model: model)
            }
            let expected = (1...model.maxLoops).last { 100 + 50 * Double($0) <= limitUs }!
            #expect(steps.count == expected, "limit \(limitUs) µs")
        }
        #expect(throws: ModelError.self) {
            _ = try model.chooseTrajectory(Budget(maxLatencyMs: 0.1), keys: 16) {
                cost.predict(loops: $0, keys: 16, model: model)
            }
        }
        // A whole generation: a 16-token prefill at 400 µs per loop step (as calibrated), then 4 decode
        // steps priced at the 20 keys the last one attends, all widened by the prior.
        let scale = model.loopGFLOPs(keys: 20) / model.loopGFLOPs(keys: 16)
        for loops in [1, 3, 8] {
            let expected =
                (400 * Double(loops) + 4 * (100 + 50 * Double(loops) * scale)) * LoopFormerDecodeCost.priorRatio
            let got = cost.predictGeneration(loops: loops, prompt: 16, tokens: 4, model: model)
            #expect(abs(got - expected) <= 1e-9 * expected)
        }
        for limitMs in [2.0, 4.0, 6.0] {
            let budget = Budget(generationTokens: 4, generationMs: limitMs)
            let steps = try model.chooseTrajectory(
                budget, keys: 20, predict: { _ in nil },
                fitsDeadline: {
                    cost.predictGeneration(loops: $0, prompt: 16, tokens: 4, model: model) <= limitMs * 1000
                })
            let expected = (1...model.maxLoops).last {
                cost.predictGeneration(loops: $0, prompt: 16, tokens: 4, model: model) <= limitMs * 1000
            }
            #expect(steps.count == expected ?? -1, "deadline \(limitMs) ms")
        }
    }

    @Test func generateTellsPrefillHowLongTheGenerationIs() throws {
        let session = try LoopFormerFixture.model().makeSession(options: SessionOptions(threads: 1, calibrate: true))
        let ids = try LoopFormerFixture.ids()[0]
        let (_, reports) = try session.generate(
            prompt: Array(ids[0..<2]), maxTokens: 4, budget: Budget(maxLatencyMs: 1000))
        // A generous limit: the full trajectory, planned and met on every decode step.
        #expect(reports[0].loops == 8)
        #expect(reports[0].predictedMicroseconds > 0)
        #expect(reports[0].deadlineMet == nil) // the limit is per decoded token
        for r in reports.dropFirst() {
            #expect(r.deadlineMet == true)
            #expect(r.predictedMicroseconds > 0)
        }
        // Without a latency limit nothing is planned.
        let (_, plain) = try session.generate(prompt: Array(ids[0..<2]), maxTokens: 2, budget: Budget(loops: 2))
        #expect(plain.allSatisfy { $0.predictedMicroseconds == 0 && $0.deadlineMet == nil })
        // A whole-generation deadline needs to know how long the generation is.
        #expect(throws: SwiftletError.self) {
            try session.prefill(Array(ids[0..<2]), budget: Budget(generationMs: 1000))
        }
        let (_, whole) = try session.generate(
            prompt: Array(ids[0..<2]), maxTokens: 4, budget: Budget(generationMs: 10_000))
        #expect(whole[0].loops == 8)
        #expect(whole[0].values["planned_generation_us"]?.first ?? 0 > 0)
        // generation_tokens is a language-model knob.
        let vit = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors")).makeSession()
        #expect(throws: SwiftletError.self) {
            _ = try vit.run([try ViTFixture.input()], budget: Budget(generationTokens: 4))
        }
    }
}

/// Models that carry a quality profile (`swiftlet profile`): the choice among profiled settings.
@Suite struct QualityProfileTests {
    /// `bytes` with a quality profile added to its metadata.
    static func profiled(_ bytes: [UInt8], metric: String, settings: [String], scores: [Double]) throws -> Model {
        let file = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        var writer = try SWLWriter(copying: file)
        writer.setMetadata(QualitySchema.Key.metric, .string(metric))
        writer.setMetadata(QualitySchema.Key.settings, .strings(settings))
        writer.setMetadata(QualitySchema.Key.scores, .floats(scores))
        return try Model(bytes: try writer.serialize())
    }

    @Test func vitPicksTheBestScoringProfiledScheduleThatFitsAndTheCheapestThatKeepsAMinimum() throws {
        let settings = ["r=0", "r=2", "r=4", "r=8", "r=4,-1", "r=8,4,2", "r=16"]
        let scores = [0.90, 0.88, 0.80, 0.60, 0.86, 0.84, 0.40]
        let model = try Self.profiled(
            try ViTFixture.convert("checkpoint.safetensors"), metric: "top1", settings: settings, scores: scores)
        let vit = model.impl as! ViTModel
        let c = vit.config
        let gflops = try settings.map { s in
            TokenPlan(try ViTModel.schedule(s, depth: c.depth).perLayer(depth: c.depth), c).gflops(images: 1)
        }
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let image = try ViTFixture.input()
        let one = Tensor(
            shape: [1] + Array(image.shape.dropFirst()),
            values: Array(image.values.prefix(image.values.count / image.shape[0])))
        // Under each GFLOP limit: the best score among the settings whose work fits, computed here.
        for limit in gflops.sorted() {
            let fitting = settings.indices.filter { gflops[$0] <= limit }
            let best = fitting.max { (scores[$0], -gflops[$0]) < (scores[$1], -gflops[$1]) }!
            let (_, report) = try session.run([one], budget: Budget(maxGFLOPs: limit))
            #expect(
                report.choice == (try ViTModel.schedule(settings[best], depth: c.depth)).description, "limit \(limit)")
            #expect(report.predictedQuality == scores[best] / scores[0])
        }
        // A minimum quality: the cheapest setting keeping it.
        for floor in [0.5, 0.9, 0.95, 1.0] {
            let keeping = settings.indices.filter { scores[$0] / scores[0] >= floor - 1e-12 }
            let cheapest = keeping.min { (gflops[$0], -scores[$0]) < (gflops[$1], -scores[$1]) }!
            let (_, report) = try session.run([one], budget: Budget(minQuality: floor))
            #expect(report.choice == (try ViTModel.schedule(settings[cheapest], depth: c.depth)).description)
        }
        // Both: the cheapest keeping 90 % among the settings no costlier than r=4.
        let limit = gflops[2]
        let candidates = settings.indices.filter { gflops[$0] <= limit && scores[$0] / scores[0] >= 0.9 }
        let expected = try #require(candidates.min { (gflops[$0], -scores[$0]) < (gflops[$1], -scores[$1]) })
        let (_, both) = try session.run([one], budget: Budget(maxGFLOPs: limit, minQuality: 0.9))
        #expect(both.choice == (try ViTModel.schedule(settings[expected], depth: c.depth)).description)
        // Nothing keeps 99 % within a limit that only r=16 meets.
        #expect(throws: SwiftletError.self) {
            _ = try session.run([one], budget: Budget(maxGFLOPs: gflops[6] + 1e-9, minQuality: 0.99))
        }
        // An explicit schedule still wins, and reports its profiled quality (none when not profiled).
        let (_, explicit) = try session.run([one], budget: Budget(mergeR: [8]))
        #expect(explicit.predictedQuality == scores[3] / scores[0])
        let (_, unprofiled) = try session.run([one], budget: Budget(mergeR: [3]))
        #expect(unprofiled.predictedQuality == nil)
        // Without a profile, a minimum quality is refused with a message that says what to do.
        let plain = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors")).makeSession()
        let refused = Result { () throws(SwiftletError) in try plain.run([one], budget: Budget(minQuality: 0.9)) }
        if case .failure(let error) = refused {
            #expect(error.message.contains("swiftlet profile"))
        } else {
            Issue.record("min quality without a profile was accepted")
        }
    }

    @Test func loopFormerTrajectoriesCompeteOnPerplexity() throws {
        let checkpoint = try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors"))
        let bytes = try LoopFormerFixture.convert(checkpoint, options: ConvertOptions())
        // Perplexities: full 10; an uneven three-step trajectory beats four even steps.
        let settings = ["loops=8", "loops=1", "loops=2", "loops=4", "trajectory=0.5,0.25,0.25"]
        let scores = [10.0, 20.0, 15.0, 12.0, 11.0]
        let model = try Self.profiled(bytes, metric: "perplexity", settings: settings, scores: scores)
        let lf = model.impl as! LoopFormerModel
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let prompt: [Int32] = [1, 2, 3]
        // Work for up to four steps per token: the 3-step trajectory (quality 10/11) wins over loops=4 (10/12).
        let limit = lf.gflopsPerToken(loops: 4, keys: prompt.count)
        let report = try session.prefill(prompt, budget: Budget(maxGFLOPs: limit))
        #expect(report.values["trajectory"] == [0.5, 0.25, 0.25])
        #expect(report.predictedQuality == 10.0 / 11.0)
        // Keep 80 %: loops=2 (10/15 = 0.67) is out, the cheapest keeping it is the 3-step trajectory.
        let kept = try session.prefill(prompt, budget: Budget(minQuality: 0.8))
        #expect(kept.loops == 3)
        // Keep everything: only the full trajectory.
        #expect(try session.prefill(prompt, budget: Budget(minQuality: 1)).loops == 8)
    }

    @Test func lmuFormerStreamsDecideAsEarlyAsTheProfileAllows() throws {
        let settings = ["early_fraction=1", "early_fraction=0.25", "early_fraction=0.5", "early_fraction=0.75"]
        let scores = [0.9, 0.45, 0.72, 0.85]
        let model = try Self.profiled(
            try LMUFixture.convert("lmu-test"), metric: "top1", settings: settings, scores: scores)
        let fx = try LMUFixture.load("lmu-test")
        let clip = Array(fx.input.prefix(fx.frames * fx.features))
        let stream = try model.makeStream()
        for (floor, fraction) in [(0.5, 0.25), (0.8, 0.5), (0.9, 0.75), (1.0, 1.0)] {
            try stream.reset()
            try stream.setBudget(Budget(expectedFrames: fx.frames, minQuality: floor))
            _ = try stream.push(clip)
            _ = try stream.flush()
            let report = try stream.report
            // `fraction` is the smallest profiled one keeping `floor` (0.25 keeps 0.5, 0.5 keeps 0.8, ...).
            if fraction < 1 {
                #expect(report.decided && report.framesUsed == Int((fraction * Double(fx.frames)).rounded(.up)))
            } else {
                #expect(!report.decided && report.framesUsed == fx.frames)
            }
            let expected = scores[
                settings.firstIndex(of: fraction == 1 ? "early_fraction=1" : "early_fraction=\(fraction)")!]
            #expect(report.predictedQuality == expected / scores[0])
        }
        #expect(throws: SwiftletError.self) {
            try stream.setBudget(Budget(expectedFrames: fx.frames, minQuality: 0.01 + 1))
        }
    }

    @Test func aDamagedProfileIsAnErrorWhenTheModelLoads() throws {
        let bytes = try ViTFixture.convert("checkpoint.safetensors")
        let cases: [(String, [String], [Double])] = [
            ("top1", ["r=0", "r=4"], [0.9]), // counts differ
            ("accuracy", ["r=0"], [0.9]), // unknown metric
            ("top1", ["r=0", "loops=4"], [0.9, 0.8]), // not a merge schedule
            ("top1", ["r=4", "r=8"], [0.9, 0.8]), // no full-quality setting
            ("top1", ["r=0", "r=4"], [0.9, 1.5]), // an accuracy above 1
            ("perplexity", ["r=0", "r=4"], [10, .nan]), // not a number
            ("top1", ["r=0", "r=0"], [0.9, 0.9]), // listed twice
        ]
        for (metric, settings, scores) in cases {
            #expect(throws: SwiftletError.self, "\(metric) \(settings) \(scores)") {
                _ = try Self.profiled(bytes, metric: metric, settings: settings, scores: scores)
            }
        }
    }
}
