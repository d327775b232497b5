import Foundation
import SwiftletConvert
import Testing

/// Hand-built and CPython-pickled torch.save archives: training checkpoints, strided views,
/// hostile pickles and broken archives.
@Suite struct TorchZipReaderTests {
    /// {'a': tensor [2, 2] of storage 0, 'b': tensor [3] of storage 1}
    static func simpleStateDict(protocol version: UInt8 = 2) -> [UInt8] {
        var p = PickleAssembler()
        p.proto(version)
        p.global("collections", "OrderedDict")
        p.emptyTuple()
        p.reduce()
        p.mark()
        p.string("a")
        p.tensor(key: "0", numel: 4, size: [2, 2], stride: [2, 1])
        p.string("b")
        p.tensor(key: "1", numel: 3, size: [3], stride: [1])
        p.setItems()
        p.stop()
        return torchArchive(
            pickle: p.bytes,
            storages: [
                ("0", floatBytes([1, 2, 3, 4])), ("1", floatBytes([-1, 0.5, 8])),
            ])
    }

    @Test func readsASimpleStateDict() throws {
        let ckpt = try CheckpointReader.read(data: Data(Self.simpleStateDict()))
        #expect(ckpt.format == "torch-zip")
        #expect(ckpt.names == ["a", "b"])
        #expect(ckpt["a"]?.shape == [2, 2])
        #expect(try ckpt["a"]?.floats() == [1, 2, 3, 4])
        #expect(try ckpt["b"]?.floats() == [-1, 0.5, 8])
    }

    @Test func readsFromAPathAndSniffsBytesNotExtension() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("weights.safetensors").path // misleading extension
        try Data(Self.simpleStateDict()).write(to: URL(fileURLWithPath: path))
        let ckpt = try CheckpointReader.read(path: path)
        #expect(ckpt.format == "torch-zip")
        #expect(ckpt.names == ["a", "b"])
    }

    @Test func readsZip64Archives() throws {
        let p = PickleAssembler.oneTensor("x", numel: 2, size: [2], stride: [1])
        let bytes = torchArchive(
            pickle: p, storages: [("0", floatBytes([3, 4]))], zip64: true)
        let ckpt = try CheckpointReader.read(data: Data(bytes))
        #expect(try ckpt["x"]?.floats() == [3, 4])
    }

    /// CPython's own pickler (protocols 2, 4, 5) wrote these from stand-ins for the torch globals;
    /// see Fixtures/checkpoint-cases/make_cases.py.
    @Test(arguments: [2, 4, 5])
    func readsTrainingCheckpoints(protocol version: Int) throws {
        let ckpt = try CheckpointReader.read(
            path: Fixtures.path("checkpoint-cases", "training_p\(version).pth"))
        #expect(ckpt.stateDictKey == "model")
        #expect(ckpt.names == ["w", "wt", "b", "h", "n"])
        let w = try #require(ckpt["w"])
        #expect(w.shape == [2, 3])
        #expect(try w.floats() == [0, 0.25, 0.5, 0.75, 1, 1.25])
        // The transpose shares w's storage with stride (1, 3).
        let wt = try #require(ckpt["wt"])
        #expect(wt.shape == [3, 2])
        #expect(try wt.floats() == [0, 0.75, 0.25, 1, 0.5, 1.25])
        // Storage offset 1 into [9, 1.5, -2.5, 9].
        #expect(try ckpt["b"]?.floats() == [1.5, -2.5])
        let h = try #require(ckpt["h"])
        #expect(h.dtype == .f16)
        #expect(try h.floats() == [1, -2, 0.5])
        let n = try #require(ckpt["n"])
        #expect(n.dtype == .i64 && n.shape == [])
        #expect(try n.int64s() == [7])
        #expect(ckpt.skipped.isEmpty)
    }

    @Test func refusesDeflatedArchives() throws {
        let bytes = try Fixtures.bytes("checkpoint-cases", "deflated.pth")
        let message = readError(bytes)
        #expect(message.contains("deflate"), "\(message)")
        #expect(message.contains("STORED"), "\(message)")
    }

    @Test func refusesADeflatedStorageByName() throws {
        let p = PickleAssembler.oneTensor("x", numel: 2, size: [2], stride: [1])
        var zip = TestZipWriter()
        zip.add("archive/data.pkl", p)
        zip.add("archive/data/0", floatBytes([1, 2]), method: 8)
        let message = readError(zip.bytes())
        #expect(message.contains("archive/data/0") && message.contains("deflate"), "\(message)")
    }

    @Test func stateDictNestedUnderModelWithExtraEntries() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.mark()
        p.string("epoch")
        p.int(41)
        p.string("lr")
        p.float(0.5)
        p.string("args") // argparse.Namespace(lr=0.1): NEWOBJ + BUILD
        p.global("argparse", "Namespace")
        p.emptyTuple()
        p.newObj()
        p.emptyDict()
        p.string("lr")
        p.float(0.1)
        p.setItem()
        p.build()
        p.string("optimizer") // holds a tensor-valued dict that must not be mistaken for the model
        p.emptyDict()
        p.string("exp_avg")
        p.tensor(key: "9", numel: 1, size: [1], stride: [1])
        p.setItem()
        p.string("model")
        p.emptyDict()
        p.mark()
        p.string("weight")
        p.tensor(key: "0", numel: 6, size: [2, 3], stride: [3, 1])
        p.string("step")
        p.int(5)
        p.string("note")
        p.none()
        p.setItems()
        p.setItems()
        p.stop()
        let bytes = torchArchive(
            pickle: p.bytes,
            storages: [
                ("0", floatBytes([1, 2, 3, 4, 5, 6])), ("9", floatBytes([7])),
            ])
        let ckpt = try CheckpointReader.read(data: Data(bytes))
        #expect(ckpt.stateDictKey == "model")
        #expect(ckpt.names == ["weight"])
        #expect(try ckpt["weight"]?.floats() == [1, 2, 3, 4, 5, 6])
        #expect(Set(ckpt.skipped.map(\.name)) == ["step", "note"])
    }

    @Test func nestedModuleKeyIsFollowed() throws {
        // {'model': {'module': {'w': tensor}}}: DataParallel-style nesting.
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.string("model")
        p.emptyDict()
        p.string("module")
        p.emptyDict()
        p.string("w")
        p.tensor(key: "0", numel: 1, size: [], stride: [])
        p.setItem()
        p.setItem()
        p.setItem()
        p.stop()
        let ckpt = try CheckpointReader.read(
            data: Data(torchArchive(pickle: p.bytes, storages: [("0", floatBytes([2]))])))
        #expect(ckpt.stateDictKey == "model.module")
        #expect(try ckpt["w"]?.floats() == [2])
    }

    /// A pickle that calls os.system must never run it: the call is an inert record.
    @Test func osSystemIsNeverExecuted() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let marker = dir.appendingPathComponent("pwned").path
        for (module, function) in [("os", "system"), ("posix", "system"), ("builtins", "eval")] {
            var p = PickleAssembler()
            p.proto(2)
            p.emptyDict()
            p.mark()
            p.string("w")
            p.tensor(key: "0", numel: 2, size: [2], stride: [1])
            p.string("evil")
            p.global(module, function)
            p.string("touch \(marker)")
            p.tuple1()
            p.reduce()
            p.setItems()
            p.stop()
            let bytes = torchArchive(pickle: p.bytes, storages: [("0", floatBytes([1, 2]))])
            let ckpt = try CheckpointReader.read(data: Data(bytes))
            #expect(try ckpt["w"]?.floats() == [1, 2])
            let skipped = try #require(ckpt.skipped.first { $0.name == "evil" })
            #expect(skipped.reason.contains("\(module).\(function)"), "\(skipped.reason)")
            #expect(!FileManager.default.fileExists(atPath: marker))
        }

        // The whole top level being such a call: a clean refusal, nothing run.
        var p = PickleAssembler()
        p.proto(2)
        p.global("os", "system")
        p.string("touch \(marker)")
        p.tuple1()
        p.reduce()
        p.stop()
        let message = readError(torchArchive(pickle: p.bytes, storages: []))
        #expect(message.contains("no state dict"), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func unknownOpcodeIsNamedWithItsOffset() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.op(0xFF)
        p.stop()
        let message = readError(torchArchive(pickle: p.bytes, storages: []))
        #expect(message.contains("0xff") && message.contains("offset 3"), "\(message)")

        var q = PickleAssembler()
        q.proto(2)
        q.op(0x82) // EXT1: extension registry, deliberately unsupported
        q.op(1)
        q.stop()
        let named = readError(torchArchive(pickle: q.bytes, storages: []))
        #expect(named.contains("EXT1") && named.contains("offset 2"), "\(named)")
    }

    @Test func truncatedPickleIsReported() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.string("abc")
        let cut = Array(p.bytes.dropLast(2)) // inside the string operand, no STOP
        let message = readError(torchArchive(pickle: cut, storages: []))
        #expect(message.contains("truncated"), "\(message)")
    }

    @Test func tensorWithoutStorageIsRefused() throws {
        // The persistent id names storage "7", which the archive lacks.
        let p = PickleAssembler.oneTensor("w", key: "7", numel: 2, size: [2], stride: [1])
        let message = readError(torchArchive(pickle: p, storages: []))
        #expect(message.contains("no storage") && message.contains("'w'"), "\(message)")

        // _rebuild_tensor_v2 handed None instead of a storage.
        var q = PickleAssembler()
        q.proto(2)
        q.emptyDict()
        q.string("w")
        q.global("torch._utils", "_rebuild_tensor_v2")
        q.mark()
        q.none()
        q.int(0)
        q.intTuple([1])
        q.intTuple([1])
        q.tuple()
        q.reduce()
        q.setItem()
        q.stop()
        let other = readError(torchArchive(pickle: q.bytes, storages: []))
        #expect(other.contains("tensor with no storage"), "\(other)")
    }

    @Test func viewsOutsideTheirStorageAreRefused() throws {
        let p = PickleAssembler.oneTensor("w", numel: 4, offset: 2, size: [3], stride: [1])
        let message = readError(
            torchArchive(
                pickle: p, storages: [("0", floatBytes([1, 2, 3, 4]))]))
        #expect(message.contains("reaches element 4"), "\(message)")

        // The pickle's element count disagrees with the storage entry's size.
        let q = PickleAssembler.oneTensor("w", numel: 5, size: [4], stride: [1])
        let size = readError(
            torchArchive(
                pickle: q, storages: [("0", floatBytes([1, 2, 3, 4]))]))
        #expect(size.contains("16 bytes"), "\(size)")
    }

    @Test func stridedViewsAreGathered() throws {
        // One 2x3x4 storage (values 0..23) viewed several ways.
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.mark()
        p.string("permuted") // permute(2, 0, 1): shape [4, 2, 3], stride (1, 12, 4)
        p.tensor(key: "0", numel: 24, size: [4, 2, 3], stride: [1, 12, 4])
        p.string("sliced") // x[1, :, 1:3]: offset 13, shape [3, 2], stride (4, 1)
        p.tensor(key: "0", numel: 24, offset: 13, size: [3, 2], stride: [4, 1])
        p.string("expanded") // a broadcast row: stride 0
        p.tensor(key: "0", numel: 24, offset: 5, size: [2, 3], stride: [0, 1])
        p.string("whole")
        p.tensor(key: "0", numel: 24, size: [2, 3, 4], stride: [12, 4, 1])
        p.string("empty")
        p.tensor(key: "0", numel: 24, size: [0, 3], stride: [3, 1])
        p.setItems()
        p.stop()
        let storage = floatBytes((0..<24).map(Float.init))
        let ckpt = try CheckpointReader.read(
            data: Data(torchArchive(pickle: p.bytes, storages: [("0", storage)])))

        var permuted: [Float] = []
        for k in 0..<4 { for i in 0..<2 { for j in 0..<3 { permuted.append(Float(i * 12 + j * 4 + k)) } } }
        #expect(try ckpt["permuted"]?.floats() == permuted)
        #expect(try ckpt["sliced"]?.floats() == [13, 14, 17, 18, 21, 22])
        #expect(try ckpt["expanded"]?.floats() == [5, 6, 7, 5, 6, 7])
        #expect(ckpt["whole"]?.bytes == storage)
        #expect(ckpt["empty"]?.shape == [0, 3])
        #expect(ckpt["empty"]?.bytes.isEmpty == true)
    }

    /// Hostile shapes: a broadcast view asking for terabytes, and a million nested tuples (freeing
    /// a recursive value graph that deep would overflow the stack).
    @Test func hostileSizesAndNestingFailCleanly() throws {
        let p = PickleAssembler.oneTensor("bomb", numel: 1, size: [1 << 40], stride: [0])
        let bomb = readError(torchArchive(pickle: p, storages: [("0", floatBytes([1]))]))
        #expect(bomb.contains("'bomb'") && bomb.contains("expand"), "\(bomb)")

        var deep = PickleAssembler()
        deep.proto(2)
        deep.emptyTuple()
        deep.bytes += [UInt8](repeating: 0x85, count: 1_000_000) // TUPLE1, a million times
        deep.stop()
        let nested = readError(torchArchive(pickle: deep.bytes, storages: []))
        #expect(nested.contains("no state dict"), "\(nested)")

        // Lists linked into a long chain after creation, through the memo.
        var chain = PickleAssembler()
        chain.proto(2)
        let links = 200_000
        chain.emptyList()
        chain.bytes += [0x72] + leBytes(UInt32(0)) // LONG_BINPUT 0
        for i in 1..<links {
            chain.emptyList()
            chain.bytes += [0x72] + leBytes(UInt32(i))
            chain.op(0x30) // POP
            chain.bytes += [0x6A] + leBytes(UInt32(i - 1)) // LONG_BINGET i-1
            chain.bytes += [0x6A] + leBytes(UInt32(i)) // LONG_BINGET i
            chain.op(0x61) // APPEND: list i-1 now holds list i
            chain.op(0x30) // POP
        }
        chain.stop()
        let linked = readError(torchArchive(pickle: chain.bytes, storages: []))
        #expect(linked.contains("no state dict"), "\(linked)")
    }

    /// Rarely used opcodes (text forms, 8-byte lengths, sets, INST/OBJ/NEWOBJ_EX, DICT, memo by
    /// text) building a flat dict whose tensors are outnumbered by other values.
    @Test func lessCommonOpcodes() throws {
        var p = PickleAssembler()
        func text(_ code: Character, _ operand: String) {
            p.bytes += [code.asciiValue!] + Array("\(operand)\n".utf8)
        }
        /// _rebuild_tensor_v2(storage '0', offset, size, stride, False, OrderedDict()) with the
        /// operands written by the caller.
        func tensor(offset: () -> Void, size: () -> Void, stride: () -> Void) {
            p.global("torch._utils", "_rebuild_tensor_v2")
            p.mark()
            p.mark()
            p.string("storage")
            p.global("torch", "FloatStorage")
            p.string("0")
            p.string("cpu")
            p.int(4)
            p.tuple()
            text("P", "ignored") // PERSID with a text id: not torch's, must not be used...
            p.op(0x30) // ...so POP it
            p.binPersId()
            offset()
            size()
            stride()
            p.bool(false)
            p.global("collections", "OrderedDict")
            p.emptyTuple()
            p.reduce()
            p.tuple()
            p.reduce()
        }

        p.proto(2)
        p.mark() // junk, dropped by POP_MARK
        p.bytes += [0x42] + leBytes(UInt32(3)) + Array("abc".utf8) // BINBYTES
        p.bytes += [0x43, 1, 0x78] // SHORT_BINBYTES
        p.op(0x8F) // EMPTY_SET
        p.mark()
        p.int(1)
        p.int(2)
        p.op(0x90) // ADDITEMS
        p.mark()
        p.int(1)
        p.op(0x91) // FROZENSET
        p.mark()
        p.int(3)
        text("i", "argparse\nNamespace") // INST
        p.op(0x31) // POP_MARK

        p.mark()
        p.bytes += [0x8D] + leBytes(UInt64(5)) + Array("alpha".utf8) // BINUNICODE8
        tensor(
            offset: { p.bytes += [0x8A, 1, 1] }, // LONG1 1
            size: {
                p.mark()
                text("I", "2")
                p.tuple()
            }, // INT (text)
            stride: {
                p.mark()
                p.bytes += [0x8B] + leBytes(UInt32(1)) + [1]
                p.tuple()
            }) // LONG4 1
        p.string("beta", short: true)
        text("p", "7") // PUT (text)
        p.op(0x30) // POP
        text("g", "7") // GET (text)
        tensor(
            offset: { p.bytes += [0x4A] + leBytes(Int32(0)) }, // BININT
            size: {
                p.mark()
                text("L", "1L")
                p.tuple()
            }, // LONG (text)
            stride: { p.intTuple([1]) })
        p.string("gamma")
        text("F", "0.5") // FLOAT (text)
        p.string("delta")
        p.global("train", "Config")
        p.emptyTuple()
        p.emptyDict()
        p.op(0x92) // NEWOBJ_EX
        p.string("epsilon")
        p.mark()
        p.global("train", "Other")
        p.int(1)
        p.op(0x6F) // OBJ
        p.emptyDict()
        p.build()
        p.string("zeta")
        p.bytes += [0x8A, 2, 0xFE, 0xFF] // LONG1 -2
        p.op(0x64) // DICT
        p.op(0x32) // DUP
        p.op(0x30) // POP
        p.stop()

        let ckpt = try CheckpointReader.read(
            data: Data(
                torchArchive(
                    pickle: p.bytes, storages: [("0", floatBytes([10, 11, 12, 13]))])))
        #expect(ckpt.stateDictKey == nil)
        #expect(ckpt.names == ["alpha", "beta"])
        #expect(try ckpt["alpha"]?.floats() == [11, 12])
        #expect(try ckpt["beta"]?.floats() == [10])
        let reasons = Dictionary(uniqueKeysWithValues: ckpt.skipped.map { ($0.name, $0.reason) })
        #expect(reasons["gamma"] == "not a tensor (float)")
        #expect(reasons["delta"] == "not a tensor (train.Config object)")
        #expect(reasons["epsilon"] == "not a tensor (train.Other object)")
        #expect(reasons["zeta"] == "not a tensor (int)")
    }

    @Test func storagelessTensorsAreRefused() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.string("meta")
        p.global("torch._utils", "_rebuild_meta_tensor_no_storage")
        p.global("torch", "float32")
        p.intTuple([2])
        p.intTuple([1])
        p.bool(false)
        p.tuple() // no MARK: rebuilt below with one
        p.stop()
        // Rebuild properly: MARK dtype size stride requires_grad TUPLE.
        var q = PickleAssembler()
        q.proto(2)
        q.emptyDict()
        q.string("meta")
        q.global("torch._utils", "_rebuild_meta_tensor_no_storage")
        q.mark()
        q.global("torch", "float32")
        q.intTuple([2])
        q.intTuple([1])
        q.bool(false)
        q.tuple()
        q.reduce()
        q.setItem()
        q.stop()
        let message = readError(torchArchive(pickle: q.bytes, storages: []))
        #expect(
            message.contains("'meta'") && message.contains("_rebuild_meta_tensor_no_storage"),
            "\(message)")
        // The malformed variant (TUPLE without MARK) is a clean pickle error, not a crash.
        let malformed = readError(torchArchive(pickle: p.bytes, storages: []))
        #expect(malformed.contains("MARK"), "\(malformed)")
    }

    @Test func storageTypesMapToDTypes() throws {
        let cases: [(String, TensorDType, [UInt8])] = [
            ("DoubleStorage", .f64, leBytes(Double(1.5).bitPattern)),
            ("HalfStorage", .f16, leBytes(UInt16(0x3E00)) + [0, 0, 0, 0, 0, 0]),
            ("BFloat16Storage", .bf16, leBytes(UInt16(0x3FC0)) + [0, 0, 0, 0, 0, 0]),
            ("LongStorage", .i64, leBytes(Int64(-3))),
            ("IntStorage", .i32, leBytes(Int32(-3)) + [0, 0, 0, 0]),
            ("ShortStorage", .i16, leBytes(Int16(-3)) + [0, 0, 0, 0, 0, 0]),
            ("CharStorage", .i8, [0xFD, 0, 0, 0, 0, 0, 0, 0]),
            ("ByteStorage", .u8, [200, 0, 0, 0, 0, 0, 0, 0]),
            ("BoolStorage", .bool, [1, 0, 0, 0, 0, 0, 0, 0]),
            ("ComplexFloatStorage", .complex64, floatBytes([1, -1])),
        ]
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.mark()
        var storages: [(key: String, bytes: [UInt8])] = []
        for (i, (type, dtype, bytes)) in cases.enumerated() {
            p.string(type)
            p.tensor(
                storageType: type, key: "\(i)", numel: bytes.count / dtype.byteSize,
                size: [1], stride: [1])
            storages.append(("\(i)", bytes))
        }
        p.string("unsupported")
        p.tensor(storageType: "ComplexDoubleStorage", key: "x", numel: 1, size: [1], stride: [1])
        p.setItems()
        p.stop()
        let ckpt = try CheckpointReader.read(
            data: Data(torchArchive(pickle: p.bytes, storages: storages)))
        let expected: [String: Float] = [
            "DoubleStorage": 1.5, "HalfStorage": 1.5, "BFloat16Storage": 1.5, "LongStorage": -3,
            "IntStorage": -3, "ShortStorage": -3, "CharStorage": -3, "ByteStorage": 200,
            "BoolStorage": 1,
        ]
        for (type, dtype, _) in cases {
            let tensor = try #require(ckpt[type], "\(type)")
            #expect(tensor.dtype == dtype)
            if let value = expected[type] { #expect(try tensor.floats() == [value], "\(type)") }
        }
        #expect(try ckpt["ComplexFloatStorage"]?.complexParts().imag == [-1])
        // An unknown storage type skips that tensor only.
        #expect(ckpt.skipped.map(\.name) == ["unsupported"])
        #expect(ckpt.skipped.first?.reason.contains("ComplexDoubleStorage") == true)
    }

    @Test func wholePickledModuleIsExplained() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.global("mymodel", "Net")
        p.emptyTuple()
        p.newObj()
        p.emptyDict()
        p.mark()
        p.string("_parameters")
        p.emptyDict()
        p.string("w")
        p.tensor(key: "0", numel: 1, size: [1], stride: [1])
        p.setItem()
        p.string("_modules")
        p.emptyDict()
        p.setItems()
        p.build()
        p.stop()
        let message = readError(
            torchArchive(
                pickle: p.bytes, storages: [("0", floatBytes([1]))]))
        #expect(message.contains("mymodel.Net") && message.contains("state_dict()"), "\(message)")
    }

    @Test func legacyAndForeignFormatsAreExplained() throws {
        let legacy: [UInt8] = [
            0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8,
            0x50, 0x19, 0x2E,
        ]
        let message = readError(legacy)
        #expect(message.contains("_use_new_zipfile_serialization=True"), "\(message)")

        var zip = TestZipWriter()
        zip.add("readme.txt", "hello")
        let notTorch = readError(zip.bytes())
        #expect(notTorch.contains("data.pkl"), "\(notTorch)")

        let random = readError(Array("hello, world".utf8))
        #expect(random.contains("unrecognised"), "\(random)")
        #expect(readError([]) == "the file is empty")
    }

    @Test func badCRCIsCaught() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.stop()
        var zip = TestZipWriter()
        zip.add("archive/data.pkl", p.bytes, crc: 0x1234_5678)
        let message = readError(zip.bytes())
        #expect(message.contains("CRC"), "\(message)")
    }

    @Test func emptyStateDictLoads() throws {
        var p = PickleAssembler()
        p.proto(2)
        p.emptyDict()
        p.stop()
        let ckpt = try CheckpointReader.read(data: Data(torchArchive(pickle: p.bytes, storages: [])))
        #expect(ckpt.tensors.isEmpty)
    }

    @Test func protocol4OpcodesAndParameters() throws {
        // FRAME, MEMOIZE, STACK_GLOBAL, SHORT_BINUNICODE, _rebuild_parameter wrapping a tensor.
        var p = PickleAssembler()
        p.proto(4)
        p.op(0x95)
        p.bytes += leBytes(UInt64(0))
        p.emptyDict()
        p.op(0x94)
        p.string("w", short: true)
        p.stackGlobal("torch._utils", "_rebuild_parameter")
        p.tensor(key: "0", numel: 2, size: [2], stride: [1])
        p.bool(true)
        p.stackGlobal("collections", "OrderedDict")
        p.emptyTuple()
        p.reduce()
        p.tuple3()
        p.reduce()
        p.setItem()
        p.stop()
        let ckpt = try CheckpointReader.read(
            data: Data(torchArchive(pickle: p.bytes, storages: [("0", floatBytes([0.25, 4]))])))
        #expect(try ckpt["w"]?.floats() == [0.25, 4])
    }
}
