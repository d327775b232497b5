import Foundation
import SwiftletConvert
import Testing

/// .npy reading (every fixture, numpy-written cases) and writing (byte-identical to numpy).
@Suite struct NPYArrayTests {
    static var fixtureArrays: [String] {
        var paths: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.root.path)) ?? []
        for folder in names.sorted() where folder != "checkpoint-cases" {
            let files =
                (try? FileManager.default.contentsOfDirectory(
                    atPath: Fixtures.path(folder))) ?? []
            paths += files.filter { $0.hasSuffix(".npy") }.sorted().map { "\(folder)/\($0)" }
        }
        return paths
    }

    @Test func fixtureArraysFound() {
        #expect(Self.fixtureArrays.count >= 30)
    }

    /// Every fixture array reads, in C order, with finite values and a consistent shape.
    @Test(arguments: fixtureArrays)
    func readsFixtureArray(relativePath: String) throws {
        let parts = relativePath.split(separator: "/").map(String.init)
        let array = try NPYArray(path: Fixtures.path(parts[0], parts[1]))
        #expect(array.elementCount == array.shape.reduce(1, *))
        #expect(array.elementCount > 0)
        if array.dtype == .f32 {
            #expect(try array.floats().allSatisfy(\.isFinite))
        } else if array.dtype == .u8 {
            // RGB pixels of the image fixture, [H, W, 3], or a batch of them, [N, H, W, 3].
            #expect(parts[0] == "image-preprocess" && [3, 4].contains(array.shape.count) && array.shape.last == 3)
        } else {
            #expect(array.dtype == .i32)
            // Token ids, or the image fixture's class index for a batch of pictures.
            #expect(parts[1] == "input_ids.npy" || parts[1] == "e2e_photo.png_top1.npy")
        }
    }

    @Test func vitShapesMatchConfig() throws {
        let config = try Fixtures.config("vit-tiny-test")
        let kwargs = try #require(config["timm_kwargs"] as? [String: Any])
        let classes = try #require(kwargs["num_classes"] as? Int)
        let width = try #require(kwargs["embed_dim"] as? Int)
        let image = try #require(kwargs["img_size"] as? Int)
        let patch = try #require(kwargs["patch_size"] as? Int)
        let tokens = (image / patch) * (image / patch) + 1
        let input = try NPYArray(path: Fixtures.path("vit-tiny-test", "input.npy"))
        #expect(input.shape == [input.shape[0], 3, image, image])
        let batch = input.shape[0]
        let budgets = try #require(config["budgets"] as? [String: Any])
        #expect(budgets.count == 5)
        for (tag, value) in budgets {
            let budget = try #require(value as? [String: Any])
            let left = try #require(budget["tokens_left"] as? Int)
            let logits = try NPYArray(path: Fixtures.path("vit-tiny-test", "logits_\(tag).npy"))
            #expect(logits.shape == [batch, classes], "\(tag)")
            let final = try NPYArray(path: Fixtures.path("vit-tiny-test", "tokens_\(tag).npy"))
            #expect(final.shape == [batch, left, width], "\(tag)")
            // Sizes count the original tokens each survivor stands for: each row sums to all tokens.
            let sizesPath = Fixtures.path("vit-tiny-test", "sizes_\(tag).npy")
            guard FileManager.default.fileExists(atPath: sizesPath) else { continue }
            let sizes = try NPYArray(path: sizesPath)
            #expect(sizes.shape == [batch, left], "\(tag)")
            let values = try sizes.floats()
            for row in 0..<batch {
                let sum = values[row * left..<(row + 1) * left].reduce(0, +)
                #expect(sum == Float(tokens), "\(tag) row \(row)")
            }
        }
    }

    @Test func fbankShapesMatchConfig() throws {
        let config = try Fixtures.config("fbank-test")
        let bins = try #require(config["num_mel_bins"] as? Int)
        let target = try #require(config["target_frames"] as? Int)
        let clips = try #require(config["clips"] as? [[String: Any]])
        for (i, clip) in clips.enumerated() {
            let frames = try #require(clip["frames"] as? Int)
            let raw = try NPYArray(path: Fixtures.path("fbank-test", "clip\(i)_fbank_raw.npy"))
            #expect(raw.shape == [frames, bins])
            let features = try NPYArray(path: Fixtures.path("fbank-test", "clip\(i)_features.npy"))
            #expect(features.shape == [target, bins])
        }
    }

    @Test(arguments: ["lmu-test", "slmu-ms-test"])
    func lmuShapesMatchConfig(folder: String) throws {
        let config = try Fixtures.config(folder)
        let constructor = try #require(config["constructor"] as? [String: Any])
        let channels = try #require(constructor["in_channels"] as? Int)
        let classes = try #require(constructor["num_classes"] as? Int)
        let steps = try #require(config["seq_len"] as? Int)
        let input = try NPYArray(path: Fixtures.path(folder, "input.npy"))
        let batch = input.shape[0]
        #expect(input.shape == [batch, steps, channels])
        #expect(try NPYArray(path: Fixtures.path(folder, "logits.npy")).shape == [batch, classes])
        #expect(
            try NPYArray(path: Fixtures.path(folder, "logits_per_step.npy")).shape
                == [batch, steps, classes])
    }

    @Test func languageModelShapesMatchConfig() throws {
        let loop = try #require(try Fixtures.config("loopformer-test")["constructor"] as? [String: Any])
        let memory = try #require(try Fixtures.config("memoryformer-test")["config"] as? [String: Any])
        let loopTags = try #require(
            try Fixtures.config("loopformer-test")["trajectories"] as? [String: Any]
        ).keys
        let cases: [(String, Int, [String])] = [
            (
                "loopformer-test", try #require(loop["vocab_size"] as? Int),
                loopTags.map { "logits_\($0).npy" }
            ),
            ("memoryformer-test", try #require(memory["vocab_size"] as? Int), ["logits.npy"]),
        ]
        for (folder, vocab, logitFiles) in cases {
            let ids = try NPYArray(path: Fixtures.path(folder, "input_ids.npy"))
            #expect(ids.dtype == .i32 && ids.shape.count == 2)
            let tokens = try ids.int32s()
            #expect(tokens.allSatisfy { $0 >= 0 && Int($0) < vocab })
            #expect(throws: CheckpointError.self) { try NPYArray(path: Fixtures.path(folder, logitFiles[0])).int32s() }
            for file in logitFiles {
                let logits = try NPYArray(path: Fixtures.path(folder, file))
                #expect(logits.shape == ids.shape + [vocab], "\(folder)/\(file)")
            }
        }
    }

    // MARK: numpy-written cases (Fixtures/checkpoint-cases/make_cases.py)

    @Test func readsNumpyWrittenDTypes() throws {
        func read(_ name: String) throws -> NPYArray {
            try NPYArray(path: Fixtures.path("checkpoint-cases", name))
        }
        let f32 = try read("npy_f32_2x3.npy")
        #expect(f32.dtype == .f32 && f32.shape == [2, 3])
        #expect(try f32.floats() == [0, 1.5, -2, 3.25, 1e-8, .infinity])
        let i32 = try read("npy_i32_5.npy")
        #expect(try i32.int32s() == [1, -2, 3, .max, .min])
        let scalar = try read("npy_f32_scalar.npy")
        #expect(scalar.shape == [])
        #expect(try scalar.floats() == [2.5])
        #expect(try read("npy_f64_3.npy").floats() == [0.1, -.infinity, 2])
        #expect(try read("npy_f16_4.npy").floats() == [1, -2, 65504, 0x1p-24])
        #expect(try read("npy_i64_2.npy").int32s() == [5, -6])
        #expect(try read("npy_i16_2.npy").int32s() == [-300, 300])
        #expect(try read("npy_u8_3.npy").int32s() == [0, 7, 255])
        let flags = try read("npy_bool_3.npy")
        #expect(flags.dtype == .bool)
        #expect(try flags.floats() == [1, 0, 1])
        let empty = try read("npy_empty_0x4.npy")
        #expect(empty.shape == [0, 4] && empty.bytes.isEmpty)
        #expect(try read("npy_v2_f32_2.npy").floats() == [1.25, -4])
        #expect(try read("npy_v3_f32_2.npy").floats() == [1.25, -4])
    }

    @Test func refusesWhatItCannotRead() throws {
        func message(_ body: () throws -> Void) -> String {
            do {
                try body()
                return ""
            } catch let error as CheckpointError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        let fortran = message { _ = try NPYArray(path: Fixtures.path("checkpoint-cases", "npy_fortran_2x3.npy")) }
        #expect(fortran.contains("Fortran order"), "\(fortran)")
        let big = message { _ = try NPYArray(path: Fixtures.path("checkpoint-cases", "npy_bigendian_2.npy")) }
        #expect(big.contains(">f4") && big.contains("not supported"), "\(big)")

        let good = try Fixtures.bytes("checkpoint-cases", "npy_f32_2x3.npy")
        let truncated = message { _ = try NPYArray(fileBytes: Array(good.dropLast(3))) }
        #expect(truncated.contains("truncated"), "\(truncated)")
        let notNPY = message { _ = try NPYArray(fileBytes: Array("hello world!".utf8)) }
        #expect(notNPY.contains("magic"), "\(notNPY)")

        func withHeader(_ header: String) -> [UInt8] {
            let text = Array(header.utf8) + [0x0A]
            return [0x93] + Array("NUMPY".utf8) + [1, 0] + leBytes(UInt16(text.count)) + text + [0, 0, 0, 0]
        }
        let badShapes: [(String, String)] = [
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "shape"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, x), }", "shape"),
            ("{'descr': '<f4', 'fortran_order': False, }", "lacks 'shape'"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }",
                "overflows"
            ),
            ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "structured"),
            ("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "not supported"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "needs 8 data bytes"),
        ]
        for (header, expected) in badShapes {
            let text = message { _ = try NPYArray(fileBytes: withHeader(header)) }
            #expect(text.contains(expected), "\(header): \(text)")
        }
        // A well-formed one through the same helper, so the failures above are the headers' fault.
        let ok = try NPYArray(fileBytes: withHeader("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }"))
        #expect(try ok.int32s() == [0])
    }

    // MARK: writing

    @Test func writerMatchesNumpyByteForByte() throws {
        let f32 = try NPYArray(floats: [0, 1.5, -2, 3.25, 1e-8, .infinity], shape: [2, 3])
        #expect(f32.fileBytes() == (try Fixtures.bytes("checkpoint-cases", "npy_f32_2x3.npy")))
        let i32 = try NPYArray(int32s: [1, -2, 3, .max, .min], shape: [5])
        #expect(i32.fileBytes() == (try Fixtures.bytes("checkpoint-cases", "npy_i32_5.npy")))
        let scalar = try NPYArray(floats: [2.5], shape: [])
        #expect(scalar.fileBytes() == (try Fixtures.bytes("checkpoint-cases", "npy_f32_scalar.npy")))
    }

    @Test func roundTripsThroughAFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let values: [Float] = (0..<24).map { Float($0) * 0.37 - 3 } + [.nan, -0.0]
        let shapes: [[Int]] = [[26], [2, 13], [1, 2, 13, 1]]
        for shape in shapes {
            let path = dir.appendingPathComponent("a\(shape.count).npy").path
            try NPYArray(floats: values, shape: shape).write(to: path)
            let back = try NPYArray(path: path)
            #expect(back.shape == shape && back.dtype == .f32)
            #expect(try back.floats().map(\.bitPattern) == values.map(\.bitPattern))
        }
        let path = dir.appendingPathComponent("ids.npy").path
        try NPYArray(int32s: [7, -1, 0, 100_000], shape: [2, 2]).write(to: path)
        #expect(try NPYArray(path: path).int32s() == [7, -1, 0, 100_000])
        #expect(try NPYArray(path: path).floats() == [7, -1, 0, 100_000])
    }

    @Test func constructorsValidateShape() {
        #expect(throws: CheckpointError.self) { try NPYArray(floats: [1, 2, 3], shape: [2, 2]) }
        #expect(throws: CheckpointError.self) { try NPYArray(int32s: [1], shape: [-1]) }
        #expect(throws: CheckpointError.self) { try NPYArray(path: "/nonexistent/x.npy") }
    }
}
