import Swiftlet
import SwiftletFormat
import SwiftletModels
import Testing

/// Saved stream states that were damaged, taken from another model, or edited with their checksum
/// recomputed ("forged": the checksum is not a secret, anyone can recompute it). Damage and other
/// models are refused by the checksum and the model's fingerprint; a forged state must also pass a
/// check of every field against what a stream of the model can reach, and never crash a later push.
@Suite struct HostileStateTests {
    static func load(_ stream: Swiftlet.Stream, _ state: [UInt8]) -> SwiftletError? {
        do {
            try stream.loadState(state)
            return nil
        } catch {
            return error
        }
    }

    static func put<T: FixedWidthInteger>(_ v: T, at offset: Int, in bytes: inout [UInt8]) {
        for k in 0..<MemoryLayout<T>.size { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
    }

    static func fingerprint(_ modelBytes: [UInt8]) throws -> UInt64 {
        let file = try modelBytes.withUnsafeBytes { try SWLFile(bytes: $0, copy: true) }
        guard case .string(let hash)? = file.metadata["general.tensor_hash"] else { return 0 }
        return xxh64(Array(hash.utf8))
    }

    // MARK: the test model

    /// The test model's stream state had no checksum at all: any damaged byte of a frame or a sum
    /// was loaded, and an `emitted` count of Int.max trapped at the next row.
    @Test func testModelStateIsChecksummedAndBoundToItsModel() throws {
        let bytes = try TestModel.fileBytes()
        let model = try Model(bytes: bytes)
        let a = try model.makeStream()
        _ = try a.push((0..<12).map { Float($0) / 10 })
        let state = try a.saveState()
        let b = try model.makeStream()
        #expect(Self.load(b, state) == nil)
        for i in 0..<state.count {
            var damaged = state
            damaged[i] ^= 0x04
            #expect(Self.load(b, damaged) != nil, "byte \(i) flipped was accepted")
        }
        // Another test model of the same width and classes (other weights).
        let other = try Model(bytes: try TestModel.fileBytes(layers: 3))
        #expect(Self.load(try other.makeStream(), state) != nil)

        // Forged: emitted = Int.max with the checksum recomputed (layout in TestStreamer).
        var forged = state
        Self.put(UInt64(Int.max), at: 16, in: &forged)
        let body = forged.count - 8
        Self.put(xxh64(Array(forged[0..<body]), seed: try Self.fingerprint(bytes)), at: body, in: &forged)
        #expect(Self.load(b, forged) != nil)
        // The same forgery with a plausible count loads: the checksum is not what refuses the above.
        Self.put(UInt64(7), at: 16, in: &forged)
        Self.put(xxh64(Array(forged[0..<body]), seed: try Self.fingerprint(bytes)), at: body, in: &forged)
        #expect(Self.load(b, forged) == nil)
        #expect(try b.push([0.1, 0.2, 0.3, 0.4]).count == 1)
    }

    // MARK: LMUFormer

    /// Offsets in a saved LMUFormer stream state (LMUFormerStreamer.saveState, version 3): header,
    /// then the engine's counters (LMUFormerEngine.save).
    enum LMU {
        static let fingerprint = 40, decidedFlag = 48, decidedRows = 52, featuresFed = 60
        static let finished = 68, framesIn = 72, rowsOut = 80, held = 96
    }

    /// FNV-1a, the state's checksum (LMUFormerState.swift), recomputed after an edit.
    static func forge(_ state: inout [UInt8]) {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in state[0..<(state.count - 8)] {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        put(h, at: state.count - 8, in: &state)
    }

    /// Issue 11: forged LMUFormer states were accepted whenever each field was in its own range:
    /// counters that contradict each other, a decision at a row never produced, and a state of
    /// another model with the same shapes (an f16 conversion of the same checkpoint).
    @Test func lmuformerForgedStatesAreCheckedFieldByField() throws {
        let fx = try LMUFixture.load("lmu-test")
        let model = try Model(bytes: fx.bytes)
        let a = try model.makeStream()
        _ = try a.push(fx.frames(0, 0..<43))
        let state = try a.saveState()
        let b = try model.makeStream()
        var same = state
        Self.forge(&same)
        #expect(same == state)
        #expect(Self.load(b, state) == nil)

        func refused(_ what: String, _ edit: (inout [UInt8]) -> Void) {
            var s = state
            edit(&s)
            Self.forge(&s)
            let error = Self.load(b, s)
            #expect(error != nil, "forged state accepted: \(what)")
        }
        refused("one more frame in than the rows and held rows say") { Self.put(UInt64(44), at: LMU.framesIn, in: &$0) }
        refused("one row fewer out") { Self.put(UInt64(37), at: LMU.rowsOut, in: &$0) }
        refused("first convolution holding one row after 43 frames") { Self.put(UInt32(1), at: LMU.held, in: &$0) }
        refused("finished with rows still held") { Self.put(UInt32(1), at: LMU.finished, in: &$0) }
        refused("decided at row 0") { Self.put(UInt32(1), at: LMU.decidedFlag, in: &$0) }
        refused("decided at a row not produced") {
            Self.put(UInt32(1), at: LMU.decidedFlag, in: &$0)
            Self.put(UInt64(39), at: LMU.decidedRows, in: &$0)
        }
        refused("a decision row without a decision") { Self.put(UInt64(5), at: LMU.decidedRows, in: &$0) }
        refused("PCM features fed to a frames stream") { Self.put(UInt64(7), at: LMU.featuresFed, in: &$0) }
        refused("another model's fingerprint") { Self.put(UInt64(0x1234), at: LMU.fingerprint, in: &$0) }
        // A consistent forgery is a state the stream could have reached: it loads and runs.
        var decided = state
        Self.put(UInt32(1), at: LMU.decidedFlag, in: &decided)
        Self.put(UInt64(38), at: LMU.decidedRows, in: &decided)
        Self.forge(&decided)
        #expect(Self.load(b, decided) == nil)
        #expect(try b.push(fx.frames(0, 43..<50)).isEmpty)
        #expect(try b.report.decided)

        // The same checkpoint converted with f16 weights: same variant and shapes, other weights.
        let half = try Model(bytes: try LMUFormerCompactWeightsTests.convert("lmu-test", dtype: .f16))
        let h = try half.makeStream()
        _ = try h.push(fx.frames(0, 0..<43))
        let error = Self.load(b, try h.saveState())
        #expect(error?.message.contains("another model") == true, "\(String(describing: error))")
    }

    /// A PCM stream's front-end counter near Int.max (checksum recomputed) trapped two frames later.
    @Test func lmuformerForgedPCMStateIsRefused() throws {
        let fx = try LMUFixture.load("lmu-test")
        let model = try Model(bytes: fx.bytes)
        let pcm = StreamOptions(input: .pcm)
        let a = try model.makeStream(options: pcm)
        _ = try a.pushPCM((0..<7000).map { Int16(truncatingIfNeeded: $0 * 37) })
        let state = try a.saveState()
        let b = try model.makeStream(options: pcm)
        #expect(Self.load(b, state) == nil)
        // The front end's state closes the stream state: magic, frame length, pending, skip, then
        // the u64 count of frames produced; 400 samples per frame at 16 kHz and 25 ms.
        let produced = state.count - 8 - (4 * 4 + 8 + 4 * 400) + 16
        var forged = state
        Self.put(UInt64(Int.max - 1), at: produced, in: &forged)
        Self.forge(&forged)
        #expect(Self.load(b, forged) != nil)
        forged = state
        Self.put(UInt64(3), at: LMU.featuresFed, in: &forged) // not the frames the engine has
        Self.forge(&forged)
        #expect(Self.load(b, forged) != nil)
        #expect(Self.load(b, state) == nil)
        _ = try b.pushPCM([Int16](repeating: 100, count: 1600))
    }
}
