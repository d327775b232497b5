/// XXH64 (the xxHash project's 64-bit hash), written from its specification. Used for the tensor
/// checksums, the header checksum and `general.tensor_hash`.
public func xxh64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
    var hasher = XXH64(seed: seed)
    hasher.update(bytes)
    return hasher.finalize()
}

/// XXH64 of a byte array.
public func xxh64(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
    bytes.withUnsafeBytes { xxh64($0, seed: seed) }
}

/// Streaming XXH64: feeding the same bytes in any split gives the same result as `xxh64`.
public struct XXH64: Sendable {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private let seed: UInt64
    private var v1, v2, v3, v4: UInt64
    private var total: UInt64 = 0
    // Bytes not yet forming a full 32-byte stripe.
    private var buffer: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var buffered = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
    }

    @inline(__always)
    private static func round(_ acc: UInt64, _ lane: UInt64) -> UInt64 {
        let a = acc &+ lane &* p2
        return ((a << 31) | (a >> 33)) &* p1
    }

    @inline(__always)
    private static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        (acc ^ round(0, v)) &* p1 &+ p4
    }

    @inline(__always)
    private static func lane(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    private mutating func stripe(_ p: UnsafeRawPointer) {
        v1 = Self.round(v1, Self.lane(p, 0))
        v2 = Self.round(v2, Self.lane(p, 8))
        v3 = Self.round(v3, Self.lane(p, 16))
        v4 = Self.round(v4, Self.lane(p, 24))
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, bytes.count > 0 else { return }
        total &+= UInt64(bytes.count)
        var p = start
        var left = bytes.count
        if buffered > 0 {
            let take = min(32 - buffered, left)
            withUnsafeMutableBytes(of: &buffer) { buf in
                buf.baseAddress!.advanced(by: buffered).copyMemory(from: p, byteCount: take)
            }
            buffered += take
            p += take
            left -= take
            if buffered < 32 { return }
            let copy = buffer
            withUnsafeBytes(of: copy) { stripe($0.baseAddress!) }
            buffered = 0
        }
        while left >= 32 {
            stripe(p)
            p += 32
            left -= 32
        }
        if left > 0 {
            withUnsafeMutableBytes(of: &buffer) { buf in
                buf.baseAddress!.copyMemory(from: p, byteCount: left)
            }
            buffered = left
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h =
                ((v1 << 1) | (v1 >> 63)) &+ ((v2 << 7) | (v2 >> 57))
                &+ ((v3 << 12) | (v3 >> 52)) &+ ((v4 << 18) | (v4 >> 46))
            h = Self.merge(h, v1)
            h = Self.merge(h, v2)
            h = Self.merge(h, v3)
            h = Self.merge(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h &+= total
        let tail = buffer
        let count = buffered
        return withUnsafeBytes(of: tail) { raw -> UInt64 in
            let p = raw.baseAddress!
            var i = 0
            while i + 8 <= count {
                h ^= Self.round(0, Self.lane(p, i))
                h = ((h << 27) | (h >> 37)) &* Self.p1 &+ Self.p4
                i += 8
            }
            if i + 4 <= count {
                let w = UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                h ^= w &* Self.p1
                h = ((h << 23) | (h >> 41)) &* Self.p2 &+ Self.p3
                i += 4
            }
            while i < count {
                h ^= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) &* Self.p5
                h = ((h << 11) | (h >> 53)) &* Self.p1
                i += 1
            }
            h ^= h >> 33
            h &*= Self.p2
            h ^= h >> 29
            h &*= Self.p3
            h ^= h >> 32
            return h
        }
    }
}
