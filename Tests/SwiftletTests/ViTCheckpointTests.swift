import Foundation
import Swiftlet
import SwiftletConvert
import Testing

/// Writes a `torch.save`-style zip (stored entries) whose pickle is a DeiT training checkpoint:
/// `{'epoch': 300, 'model': state_dict}`. Built by hand so the test needs no PyTorch.
enum DeiTCheckpointWriter {
    static func pth(_ tensors: [CheckpointTensor]) throws -> [UInt8] {
        var pickle: [UInt8] = [0x80, 0x02, UInt8(ascii: "}"), UInt8(ascii: "(")]
        func op(_ c: Character) { pickle.append(c.asciiValue!) }
        func string(_ s: String) {
            op("X")
            let utf8 = Array(s.utf8)
            pickle += withUnsafeBytes(of: UInt32(utf8.count).littleEndian, Array.init)
            pickle += utf8
        }
        func int(_ v: Int) {
            op("J")
            pickle += withUnsafeBytes(of: Int32(v).littleEndian, Array.init)
        }
        func global(_ module: String, _ name: String) {
            op("c")
            pickle += Array("\(module)\n\(name)\n".utf8)
        }
        func tuple(_ values: [Int]) {
            op("(")
            values.forEach(int)
            op("t")
        }
        string("epoch")
        int(300)
        string("model")
        op("}")
        op("(")
        var storages: [(String, [UInt8])] = []
        for t in tensors {
            precondition(t.dtype == .f32)
            let key = String(storages.count)
            storages.append((key, t.bytes))
            string(t.name)
            global("torch._utils", "_rebuild_tensor_v2")
            op("(")
            op("(")
            string("storage")
            global("torch", "FloatStorage")
            string(key)
            string("cpu")
            int(t.elementCount)
            op("t")
            op("Q")
            int(0)
            tuple(t.shape)
            var strides: [Int] = []
            var s = 1
            for d in t.shape.reversed() {
                strides.insert(s, at: 0)
                s *= d
            }
            tuple(strides)
            pickle.append(0x89) // NEWFALSE: requires_grad
            global("collections", "OrderedDict")
            op(")")
            op("R")
            op("t")
            op("R")
        }
        op("u") // the state dict's items
        op("u") // the checkpoint's items
        op(".")

        var entries: [(String, [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
        entries += storages.map { ("archive/data/\($0.0)", $0.1) }
        entries.append(("archive/version", Array("3\n".utf8)))
        return zip(entries)
    }

    /// A zip archive of STORED entries.
    static func zip(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: Int, _ into: inout [UInt8]) { into += withUnsafeBytes(of: UInt16(v).littleEndian, Array.init) }
        func u32(_ v: UInt32, _ into: inout [UInt8]) { into += withUnsafeBytes(of: v.littleEndian, Array.init) }
        for (name, data) in entries {
            let offset = UInt32(out.count)
            let crc = crc32(data)
            let nameBytes = Array(name.utf8)
            // What the local and central headers share: version needed, flags, method, time, date, CRC,
            // both sizes, name length, extra length.
            func common(_ into: inout [UInt8]) {
                u16(20, &into)
                for _ in 0..<4 { u16(0, &into) }
                u32(crc, &into)
                u32(UInt32(data.count), &into)
                u32(UInt32(data.count), &into)
                u16(nameBytes.count, &into)
                u16(0, &into)
            }
            u32(0x0403_4B50, &out)
            common(&out)
            out += nameBytes
            out += data
            u32(0x0201_4B50, &central)
            u16(20, &central) // version made by
            common(&central)
            for _ in 0..<3 { u16(0, &central) } // comment length, disk, internal attributes
            u32(0, &central) // external attributes
            u32(offset, &central)
            central += nameBytes
        }
        let centralOffset = UInt32(out.count)
        out += central
        u32(0x0605_4B50, &out)
        u16(0, &out)
        u16(0, &out)
        u16(entries.count, &out)
        u16(entries.count, &out)
        u32(UInt32(central.count), &out)
        u32(centralOffset, &out)
        u16(0, &out)
        return out
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}

@Suite struct ViTCheckpointTests {
    /// A DeiT training checkpoint (state dict under `model`, plus other entries) converts to the same
    /// bytes as the plain safetensors file, for a plain and for a distilled model.
    @Test(arguments: [false, true])
    func deitStylePthWithTheStateDictUnderModel(distilled: Bool) throws {
        let tensors = try ViTDistilledTests.tensors(distilled: distilled)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftlet-deit-\(UUID().uuidString).pth"
        ).path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(try DeiTCheckpointWriter.pth(tensors)).write(to: URL(fileURLWithPath: path))

        let read = try CheckpointReader.read(path: path)
        #expect(read.stateDictKey == "model")
        let fromPth = try Converter.convertToBytes(
            ViTConverter.self, checkpoint: read, config: try ViTFixture.config,
            options: ConvertOptions())
        let fromSafetensors = try Converter.convertToBytes(
            ViTConverter.self, checkpoint: try Checkpoint(tensors: tensors, format: "safetensors"),
            config: try ViTFixture.config, options: ConvertOptions())
        #expect(fromPth == fromSafetensors)
        if !distilled { #expect(fromPth == (try ViTFixture.convert("checkpoint.safetensors"))) }
        let model = try Model(bytes: fromPth)
        #expect(model.metadataText("vit.distilled") == String(distilled))
    }
}
