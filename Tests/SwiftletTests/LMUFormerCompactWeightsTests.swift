import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import Testing

/// Models converted with `--dtype f16` (compact weights, streamed per frame at half the bytes) and
/// whole clips split over threads.
@Suite struct LMUFormerCompactWeightsTests {
    static func convert(_ name: String, dtype: DType) throws -> [UInt8] {
        try FixtureCache.bytes("\(name)/checkpoint.safetensors \(dtype)") {
            let dir = LMUFixture.directory(name)
            let config = try ConstructorConfig(path: dir + "/config.json")
            let checkpoint = try CheckpointReader.read(path: dir + "/checkpoint.safetensors")
            return try Converter.convertToBytes(
                LMUFormerConverter.self, checkpoint: checkpoint, config: config,
                options: ConvertOptions(weightDType: dtype))
        }
    }

    /// The same file with every f16 tensor widened to f32 (the values the f16 kernels compute with).
    static func widened(_ bytes: [UInt8]) throws -> [UInt8] {
        let file = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        var writer = SWLWriter()
        for key in file.metadataKeys where key != "general.tensor_hash" {
            writer.setMetadata(key, file.metadata[key]!)
        }
        var widenedAny = false
        for t in file.tensors {
            if t.dtype == .f16 {
                widenedAny = true
                try writer.addTensor(
                    name: t.name, dtype: .f32, shape: t.shape,
                    bytes: Quantize.f32Bytes(Array(try file.floats(t.name))))
            } else {
                try writer.addTensor(
                    name: t.name, dtype: t.dtype!, shape: t.shape,
                    bytes: Array(try file.rawBytes(t.name)))
            }
        }
        #expect(widenedAny)
        return try writer.serialize()
    }

    @Test(arguments: ["lmu-test", "slmu-ms-test"])
    func halfWeightsRunInPlaceLikeTheirWidenedValues(name: String) throws {
        let fx = try LMUFixture.load(name)
        let half = try Self.convert(name, dtype: .f16)
        #expect(half.count < fx.bytes.count)
        let model = try Model(bytes: half)
        let wide = try Model(bytes: try Self.widened(half))
        let x = Tensor(shape: [fx.batch, fx.frames, fx.features], values: fx.input)
        let (a, _) = try model.makeSession().run([x])
        let (b, _) = try wide.makeSession().run([x])
        // The f16 kernels convert each weight exactly and sum in the same order.
        let (e, ok) = lmuCompare(a[1].values, b[1].values)
        #expect(ok && e <= 1e-6, "\(name): f16 in place vs widened: max abs error \(e)")
        // Streaming an f16 model reproduces its whole-clip rows.
        for chunk in [1, 7] {
            let stream = try model.makeStream()
            let (rows, countsOK) = try lmuStream(stream, fx, clip: 0, chunk: chunk)
            #expect(countsOK)
            let (es, oks) = lmuCompare(rows, Array(a[1].values[0..<(fx.frames * fx.classes)]))
            #expect(oks, "\(name) f16 stream chunk \(chunk): max abs error \(es)")
        }
        // Against the official outputs, f16 weights cost accuracy (reported; the f32 default is exact).
        let (official, _) = lmuCompare(a[1].values, fx.perStep)
        print("\(name) with f16 weights: logits_per_step max abs error \(official) vs the official outputs")
        #expect(official < 0.2)
    }

    @Test func threadsSplitColumnsWithoutChangingResults() throws {
        let (checkpoint, input) = try LMUFormerSpikingTests.synthetic()
        let bytes = try Converter.convertToBytes(
            LMUFormerConverter.self, checkpoint: checkpoint,
            config: LMUFormerSpikingTests.config(), options: ConvertOptions())
        let model = try Model(bytes: bytes)
        let x = Tensor(shape: [1, LMUFormerSpikingTests.frames, LMUFormerSpikingTests.f], values: input)
        var outputs: [[Float]] = []
        var rates: [[Double]] = []
        for threads in [1, 2, 3] {
            let (out, report) = try model.makeSession(options: SessionOptions(threads: threads)).run([x])
            outputs.append(out[1].values)
            rates.append(report.values["spike_rate"] ?? [])
        }
        // Each output column is summed in the same order whichever thread computes it.
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0] == outputs[2])
        #expect(rates[0] == rates[1] && rates[0] == rates[2])
        #expect(!rates[0].isEmpty)
    }
}
