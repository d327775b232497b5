import Foundation
import SwiftletConvert
import Testing

/// The golden fixtures' checkpoint.pth (torch.save) and checkpoint.safetensors hold the same
/// tensors; both readers must agree bit for bit.
@Suite struct FixtureCheckpointTests {
    @Test func fixturesArePresent() {
        #expect(Fixtures.checkpointFolders.count >= 5, "fixtures not found under \(Fixtures.root.path)")
    }

    @Test(arguments: Fixtures.checkpointFolders)
    func torchAndSafetensorsAgree(folder: String) throws {
        let torch = try CheckpointReader.read(path: Fixtures.path(folder, "checkpoint.pth"))
        let safe = try CheckpointReader.read(path: Fixtures.path(folder, "checkpoint.safetensors"))
        #expect(torch.format == "torch-zip")
        #expect(safe.format == "safetensors")
        #expect(torch.stateDictKey == nil)
        #expect(torch.skipped.isEmpty, "\(torch.skipped)")
        #expect(safe.skipped.isEmpty, "\(safe.skipped)")
        #expect(!torch.tensors.isEmpty)
        #expect(Set(torch.names) == Set(safe.names))
        #expect(torch.names.count == Set(torch.names).count)
        for tensor in torch.tensors {
            let other = try #require(safe[tensor.name], "\(tensor.name) missing from safetensors")
            #expect(tensor.dtype == other.dtype, "\(tensor.name)")
            #expect(tensor.shape == other.shape, "\(tensor.name)")
            #expect(tensor.bytes == other.bytes, "\(tensor.name) differs")
        }
    }

    @Test func loopformerTiedWeightsShareOneStorage() throws {
        let ckpt = try CheckpointReader.read(path: Fixtures.path("loopformer-test", "checkpoint.pth"))
        let wte = try #require(ckpt["transformer.wte.weight"])
        let head = try #require(ckpt["lm_head.weight"])
        let config = try Fixtures.config("loopformer-test")
        let constructor = try #require(config["constructor"] as? [String: Any])
        let vocab = try #require(constructor["vocab_size"] as? Int)
        let width = try #require(constructor["n_embd"] as? Int)
        #expect(wte.shape == [vocab, width])
        #expect(head.shape == [vocab, width])
        #expect(wte.bytes == head.bytes)
        let values = try wte.floats()
        #expect(values.contains { $0 != 0 })
    }

    /// fft_H is rfft(H, n=256) along time in the official LMU code; checking a few bins against a
    /// direct DFT of H proves the complex64 bytes were decoded as (re, im) pairs.
    @Test(arguments: ["lmu-test", "slmu-ms-test"])
    func complexFFTBuffersRead(folder: String) throws {
        for path in ["checkpoint.pth", "checkpoint.safetensors"] {
            let ckpt = try CheckpointReader.read(path: Fixtures.path(folder, path))
            let fft = try #require(ckpt["block.0.attn.lmu.fft_H"])
            let h = try #require(ckpt["block.0.attn.lmu.H"])
            #expect(fft.dtype == .complex64)
            #expect(h.shape.count == 2)
            let rows = h.shape[0]
            let steps = h.shape[1]
            #expect(fft.shape == [rows, steps + 1])
            #expect(throws: CheckpointError.self) { try fft.floats() }
            let (re, im) = try fft.complexParts()
            let hv = try h.floats()
            let n = 2 * steps
            for row in [0, rows - 1] {
                for bin in [0, 1, 7] {
                    var sumRe = 0.0
                    var sumIm = 0.0
                    for t in 0..<steps {
                        let angle = -2 * Double.pi * Double(bin * t) / Double(n)
                        sumRe += Double(hv[row * steps + t]) * cos(angle)
                        sumIm += Double(hv[row * steps + t]) * sin(angle)
                    }
                    let index = row * (steps + 1) + bin
                    #expect(abs(Double(re[index]) - sumRe) < 1e-4 * max(1, abs(sumRe)), "\(path) re")
                    #expect(abs(Double(im[index]) - sumIm) < 1e-4 * max(1, abs(sumIm)), "\(path) im")
                }
            }
        }
    }

    @Test func batchNormCounterIsInt64() throws {
        let ckpt = try CheckpointReader.read(path: Fixtures.path("lmu-test", "checkpoint.pth"))
        let counter = try #require(ckpt["patch_embed.conv_layers.0.3.num_batches_tracked"])
        #expect(counter.dtype == .i64)
        #expect(counter.shape == [])
        #expect(try counter.int64s().count == 1)
        let variance = try #require(ckpt["patch_embed.conv_layers.0.3.running_var"])
        #expect(try variance.floats().allSatisfy { $0 > 0 })
    }

    @Test func sourceOrderFollowsTheFile() throws {
        let ckpt = try CheckpointReader.read(path: Fixtures.path("lmu-test", "checkpoint.pth"))
        // torch.save keeps the module registration order, which is not alphabetical here.
        #expect(ckpt.names.first == "patch_embed.conv_layers.0.0.weight")
        #expect(ckpt.names != ckpt.names.sorted())
    }

    @Test func truncatedFixtureArchivesFailCleanly() throws {
        let whole = try Fixtures.bytes("loopformer-test", "checkpoint.pth")
        for cut in [whole.count / 2, whole.count - 1, 100] {
            let message = readError(Array(whole[0..<cut]))
            #expect(message.contains("truncated"), "\(message)")
        }
    }

    @Test func truncatedSafetensorsFailCleanly() throws {
        let whole = try Fixtures.bytes("loopformer-test", "checkpoint.safetensors")
        let cutInData = readError(Array(whole[0..<whole.count - 10]))
        #expect(cutInData.contains("past the end"), "\(cutInData)")
        let cutInHeader = readError(Array(whole[0..<200]))
        #expect(cutInHeader.contains("truncated"), "\(cutInHeader)")
    }

    @Test func corruptedStorageFailsItsCRC() throws {
        var bytes = try Fixtures.bytes("vit-tiny-test", "checkpoint.pth")
        // Find a tensor's bytes in the archive (entries are STORED) and flip one in the middle.
        let tensor = try #require(
            try CheckpointReader.read(
                path: Fixtures.path("vit-tiny-test", "checkpoint.pth")
            ).tensors.max { $0.bytes.count < $1.bytes.count })
        let needle = Array(tensor.bytes.prefix(64))
        let start = (0...bytes.count - needle.count).first {
            bytes[$0] == needle[0] && Array(bytes[$0..<$0 + needle.count]) == needle
        }
        let at = try #require(start)
        bytes[at + tensor.bytes.count / 2] ^= 0xFF
        let message = readError(bytes)
        #expect(message.contains("CRC"), "\(message)")
    }
}
