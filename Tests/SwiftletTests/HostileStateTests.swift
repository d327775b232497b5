import Testing
import Swiftlet
import SwiftletFormat
import SwiftletModels

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
}
