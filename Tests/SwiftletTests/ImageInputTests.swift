import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import Testing

@testable import SwiftletModels

/// Image input through the Swift API: the vit-tiny-test model converted with timm's `pretrained_cfg`
/// (Tests/Fixtures/image-preprocess), on photos as Pillow decoded them, against timm's transform and
/// the reference model's logits (make.py).
enum ImageInputFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/image-preprocess").path

    static func path(_ name: String) -> String { directory + "/" + name }

    static var preprocess: PreprocessConfig {
        get throws { try PreprocessConfig(path: path("pretrained_cfg.json")) }
    }

    /// vit-tiny-test with `image.*` metadata (and class names).
    static func modelBytes() throws -> [UInt8] {
        let labels = try String(contentsOfFile: path("labels.txt"), encoding: .utf8).split(separator: "\n").map(
            String.init)
        return try ViTFixture.convert(
            "checkpoint.safetensors", options: ConvertOptions(labels: labels, preprocess: try preprocess))
    }

    /// A photo's pixels as Pillow decoded it.
    static func photo(_ name: String) throws -> RGB8Image {
        let a = try NPYArray(path: path("e2e_\(name)_pixels.npy"))
        return try RGB8Image(width: a.shape[1], height: a.shape[0], pixels: a.bytes)
    }

    static func floats(_ name: String) throws -> [Float] { try NPYArray(path: path(name)).floats() }
}

@Suite struct ImageInputTests {
    static let photos = ["photo.jpg", "photo.png"]

    @Test(arguments: photos) func preprocessMatchesTimm(_ name: String) throws {
        let model = try Model(bytes: try ImageInputFixture.modelBytes())
        #expect(try model.imageInputShape == [1, 3, 32, 32])
        let x = try model.preprocess(try ImageInputFixture.photo(name))
        #expect(x.shape == [1, 3, 32, 32])
        // timm computes the same pixels, then the same float32 arithmetic: the same bits.
        let want = try ImageInputFixture.floats("e2e_\(name)_input.npy")
        #expect(x.values == want, "max difference \(zip(x.values, want).map { abs($0 - $1) }.max() ?? .nan)")
    }

    @Test(arguments: photos) func runImageMatchesReference(_ name: String) throws {
        let model = try Model(bytes: try ImageInputFixture.modelBytes())
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let image = try ImageInputFixture.photo(name)
        let (outputs, report) = try session.run(image: image)
        let want = try ImageInputFixture.floats("e2e_\(name)_logits.npy")
        let r = compare(outputs[0].values, want)
        #expect(outputs[0].shape == [1, 10])
        #expect(r.ok, "logits max error \(r.maxAbs)")
        #expect(report.completed && report.microseconds > 0)
        // The same as running the preprocessed tensor, and the same with a budget that merges tokens.
        let (direct, _) = try session.run([try model.preprocess(image)])
        #expect(direct[0].values == outputs[0].values)
        let (merged, mergedReport) = try session.run(image: image, budget: Budget(mergeR: [4]))
        let (mergedDirect, _) = try session.run([try model.preprocess(image)], budget: Budget(mergeR: [4]))
        #expect(merged[0].values == mergedDirect[0].values && mergedReport.tokensKept < report.tokensKept)
        #expect(model.labels.count == 10)
    }

    /// The same bits on any thread count (the preprocessing runs on the caller's thread).
    @Test func threadCountsAgree() throws {
        let model = try Model(bytes: try ImageInputFixture.modelBytes())
        let image = try ImageInputFixture.photo("photo.png")
        let one = try model.makeSession(options: SessionOptions(threads: 1)).run(image: image).outputs
        let three = try model.makeSession(options: SessionOptions(threads: 3)).run(image: image).outputs
        #expect(one == three)
    }

    /// Rows further apart than the pixels (a view into a larger buffer) give the same input.
    @Test func rowStride() throws {
        let model = try Model(bytes: try ImageInputFixture.modelBytes())
        let image = try ImageInputFixture.photo("photo.jpg")
        let stride = image.width * 3 + 11
        var padded = [UInt8](repeating: 0xEE, count: stride * image.height)
        for y in 0..<image.height {
            for i in 0..<(image.width * 3) { padded[y * stride + i] = image.pixels[y * image.width * 3 + i] }
        }
        let strided = try RGB8Image(width: image.width, height: image.height, pixels: padded, rowStride: stride)
        #expect(try model.preprocess(strided).values == model.preprocess(image).values)
    }

    @Test func badImagesAreRefused() throws {
        #expect(errorKind { _ = try RGB8Image(width: 0, height: 3, pixels: []) } == "shape")
        #expect(errorKind { _ = try RGB8Image(width: 70000, height: 1, pixels: []) } == "shape")
        #expect(
            errorKind { _ = try RGB8Image(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 11)) } == "shape")
        #expect(errorKind { _ = try RGB8Image(width: 2, height: 2, pixels: [], rowStride: 5) } == "invalidArgument")
        // The last row needs only its pixels, not a whole stride.
        #expect(
            errorKind {
                _ = try RGB8Image(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 16), rowStride: 10)
            } == nil)
    }

    /// A vit without `image.*` and a family without images refuse, saying what to do.
    @Test func modelsWithoutPreprocessingRefuse() throws {
        let image = try RGB8Image(width: 4, height: 4, pixels: [UInt8](repeating: 7, count: 48))
        let plain = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        for model in [plain, try Model(bytes: try TestModel.fileBytes())] {
            let session = try model.makeSession()
            do {
                _ = try session.run(image: image)
                Issue.record("\(model.family) ran an image")
            } catch {
                guard case .unsupported(let message) = error else {
                    Issue.record("\(error) is not .unsupported")
                    continue
                }
                #expect(message.contains("--preprocess"), "\(message)")
            }
            #expect(errorKind { _ = try model.preprocess(image) } == "unsupported")
            #expect(errorKind { _ = try model.imageInputShape } == "unsupported")
        }
    }

    /// Malformed `image.*` values make the file unusable (format errors naming the key); a filter or
    /// crop mode this runtime lacks leaves the model loadable and refuses image input only.
    @Test func hostileImageMetadata() throws {
        let bytes = try ImageInputFixture.modelBytes()
        typealias K = ImageSchema.Key
        for v in hostileFloats + [0, 1.5, -0.5] { try expectRefused(bytes, K.cropFraction, .float(v)) }
        for v in hostileFloats { try expectRefused(bytes, K.mean, .floats([0.5, v, 0.5])) }
        for v in hostileFloats + [0, -1] { try expectRefused(bytes, K.std, .floats([0.2, 0.2, v])) }
        try expectRefused(bytes, K.mean, .floats([0.5, 0.5]))
        try expectRefused(bytes, K.std, .floats([0.2, 0.2, 0.2, 0.2]))
        #expect(errorKind { _ = try Model(bytes: try withMetadata(bytes, [K.interpolation: .int(3)])) } == "format")
        // The other keys without image.interpolation: half a preprocessing is refused, not ignored.
        let file = try bytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        var writer = SWLWriter()
        for key in file.metadataKeys where key != GeneralSchema.Key.tensorHash && key != K.interpolation {
            writer.setMetadata(key, file.metadata[key]!)
        }
        for t in file.tensors {
            try writer.addTensor(name: t.name, dtype: t.dtype!, shape: t.shape, bytes: Array(try file.rawBytes(t.name)))
        }
        #expect(errorKind { _ = try Model(bytes: try writer.serialize()) } == "format")

        let image = try ImageInputFixture.photo("photo.png")
        for (key, value) in [(K.interpolation, "hamming"), (K.cropMode, "border")] {
            let model = try Model(bytes: try withMetadata(bytes, [key: .string(value)]))
            do {
                _ = try model.preprocess(image)
                Issue.record("\(key) \(value) was used")
            } catch {
                #expect(errorKind { throw error } == "unsupported")
                #expect(error.message.contains(value), "\(error.message)")
            }
            _ = try model.makeSession().run([try ViTFixture.input()]) // tensors still run
        }
    }
}

@Suite struct PreprocessConfigTests {
    static func config(_ json: String) throws -> PreprocessConfig {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        return try PreprocessConfig(json: object, source: "cfg.json")
    }

    static func metadata(_ json: String, channels: Int = 3, size: Int = 32) throws -> [String: MetadataValue] {
        Dictionary(
            uniqueKeysWithValues: try config(json).metadata(channels: channels, height: size, width: size).values.map {
                ($0.key, $0.value)
            })
    }

    @Test func readsTimmPretrainedCfg() throws {
        let m = try Self.metadata(
            #"{"input_size": [3, 32, 32], "interpolation": "bilinear", "crop_pct": 0.95, "crop_mode": "squash", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "url": "", "num_classes": 10}"#
        )
        #expect(m[ImageSchema.Key.interpolation] == .string("bilinear"))
        #expect(m[ImageSchema.Key.cropFraction] == .float(0.95))
        #expect(m[ImageSchema.Key.cropMode] == .string("squash"))
        #expect(m[ImageSchema.Key.std] == .floats([0.5, 0.5, 0.5]))
    }

    /// A Hugging Face timm config.json holds the cfg under "pretrained_cfg"; what it leaves out (or
    /// leaves null, empty or zero, as timm's `resolve_data_config` reads it) takes timm's defaults,
    /// with a warning each.
    @Test func nestedAndDefaults() throws {
        let c = try Self.config(#"{"architecture": "vit_tiny", "pretrained_cfg": {"crop_pct": 0, "mean": null}}"#)
        let (values, warnings) = try c.metadata(channels: 3, height: 32, width: 32)
        let m = Dictionary(uniqueKeysWithValues: values.map { ($0.key, $0.value) })
        #expect(m[ImageSchema.Key.cropFraction] == .float(0.875))
        #expect(m[ImageSchema.Key.interpolation] == .string("bicubic"))
        #expect(m[ImageSchema.Key.mean] == .floats([0.485, 0.456, 0.406]))
        #expect(warnings.count == 5)
        // One value is repeated per channel, as timm does.
        #expect(try Self.metadata(#"{"std": [0.5]}"#)[ImageSchema.Key.std] == .floats([0.5, 0.5, 0.5]))
    }

    @Test(arguments: [
        (#"{"crop_mode": "border"}"#, "crop_mode"), (#"{"interpolation": "nearest"}"#, "interpolation"),
        (#"{"interpolation": "random"}"#, "interpolation"), (#"{"crop_pct": 1.2}"#, "crop_pct"),
        (#"{"crop_pct": "0.9"}"#, "crop_pct"), (#"{"input_size": [3, 224, 224]}"#, "input_size"),
        (#"{"input_size": [1, 32, 32]}"#, "input_size"), (#"{"mean": [0.5, 0.5]}"#, "mean"),
        (#"{"std": [0.2, 0, 0.2]}"#, "std"), (#"{"mean": [true, 0, 0]}"#, "mean"), (#"{"std": "0.2"}"#, "std"),
    ])
    func refusedNamingTheKey(_ c: (String, String)) {
        do {
            _ = try Self.metadata(c.0)
            Issue.record("\(c.0) was accepted")
        } catch {
            #expect("\(error)".contains(c.1), "\(error)")
        }
    }

    @Test func otherFamiliesRefuse() throws {
        let c = try Self.config("{}")
        let dir = LMUFixture.directory("lmu-test")
        let ckpt = try CheckpointReader.read(path: dir + "/checkpoint.safetensors")
        let config = try ConstructorConfig(path: dir + "/config.json")
        #expect(throws: ConvertError.self) {
            _ = try Converter.convertToBytes(
                LMUFormerConverter.self, checkpoint: ckpt, config: config, options: ConvertOptions(preprocess: c))
        }
    }
}
