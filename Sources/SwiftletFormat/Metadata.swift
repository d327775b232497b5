/// A typed metadata value.
public enum MetadataValue: Sendable, Equatable {
    case int(Int64)
    case float(Double)
    case string(String)
    case bool(Bool)
    case ints([Int64])
    case floats([Double])
    case strings([String])

    /// Type codes of format 1.0 (Formats/swl.md §5).
    var typeCode: UInt8 {
        switch self {
        case .int: 1
        case .float: 2
        case .bool: 3
        case .string: 4
        case .ints: 5
        case .floats: 6
        case .strings: 7
        }
    }

    /// The encoded value bytes (without the entry header).
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .int(let v): out.appendLE(UInt64(bitPattern: v))
        case .float(let v): out.appendLE(v.bitPattern)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let s): out.append(contentsOf: s.utf8)
        case .ints(let a): for v in a { out.appendLE(UInt64(bitPattern: v)) }
        case .floats(let a): for v in a { out.appendLE(v.bitPattern) }
        case .strings(let a):
            out.appendLE(UInt32(truncatingIfNeeded: a.count))
            for s in a {
                out.appendLE(UInt32(truncatingIfNeeded: s.utf8.count))
                out.append(contentsOf: s.utf8)
            }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        var le = v.littleEndian
        Swift.withUnsafeBytes(of: &le) { append(contentsOf: $0) }
    }
}

/// Parses and validates the metadata section (Formats/swl.md §9 step 17).
func parseMetadata(
    _ b: UnsafeRawBufferPointer, _ section: Range<Int>,
    count: Int
) throws(FormatError) -> ([String: MetadataValue], [String]) {
    var values: [String: MetadataValue] = [:]
    var keys: [String] = []
    values.reserveCapacity(count)
    keys.reserveCapacity(count)
    var pos = section.lowerBound
    var previousKey: Range<Int>? = nil
    for i in 0..<count {
        func bad(_ msg: String) -> FormatError { FormatError(.corruptMetadata, "metadata entry \(i): \(msg)") }
        let left = section.upperBound - pos
        guard left >= 8 else { throw bad("truncated (runs past the end of the metadata section)") }
        let keyLen = Int(b.u16(pos))
        let type = b.u8(pos + 2)
        let valueSize = Int(b.u32(pos + 4))
        guard keyLen >= 1 else { throw bad("empty key") }
        guard keyLen <= left - 8 else { throw bad("the \(keyLen)-byte key runs past the end of the metadata section") }
        let keyRange = (pos + 8)..<(pos + 8 + keyLen)
        guard let key = b.utf8String(keyRange.lowerBound, keyLen) else { throw bad("the key is not valid UTF-8") }
        guard valueSize <= left - 8 - keyLen else {
            throw FormatError(
                .corruptMetadata,
                "metadata '\(key)': its \(valueSize)-byte value runs past the end of the metadata section")
        }
        if let prev = previousKey {
            let c = b.compareBytes(prev, keyRange)
            if c == 0 { throw FormatError(.corruptMetadata, "duplicate metadata key '\(key)'") }
            if c > 0 { throw FormatError(.corruptMetadata, "the metadata is not sorted by key (at '\(key)')") }
        }
        previousKey = keyRange
        let v = keyRange.upperBound
        func wrong(_ msg: String) -> FormatError { FormatError(.corruptMetadata, "metadata '\(key)': \(msg)") }
        var value: MetadataValue?
        switch type {
        case 1, 2:
            guard valueSize == 8 else { throw wrong("a number must take 8 bytes, not \(valueSize)") }
            value = type == 1 ? .int(Int64(bitPattern: b.u64(v))) : .float(Double(bitPattern: b.u64(v)))
        case 3:
            guard valueSize == 1, b.u8(v) <= 1 else { throw wrong("a bool must be one byte, 0 or 1") }
            value = .bool(b.u8(v) == 1)
        case 4:
            guard let s = b.utf8String(v, valueSize) else { throw wrong("the string is not valid UTF-8") }
            value = .string(s)
        case 5, 6:
            guard valueSize % 8 == 0 else {
                throw wrong("an array of numbers must take a multiple of 8 bytes, not \(valueSize)")
            }
            let n = valueSize / 8
            if type == 5 {
                value = .ints((0..<n).map { Int64(bitPattern: b.u64(v + 8 * $0)) })
            } else {
                value = .floats((0..<n).map { Double(bitPattern: b.u64(v + 8 * $0)) })
            }
        case 7:
            guard valueSize >= 4 else { throw wrong("a string array needs a 4-byte count") }
            let n = Int(b.u32(v))
            guard n <= (valueSize - 4) / 4 else { throw wrong("\(n) strings cannot fit in \(valueSize) bytes") }
            var strings: [String] = []
            strings.reserveCapacity(n)
            var p = v + 4
            let end = v + valueSize
            for k in 0..<n {
                guard end - p >= 4 else { throw wrong("string \(k) runs past the end of the value") }
                let len = Int(b.u32(p))
                guard len <= end - p - 4 else {
                    throw wrong("string \(k) (\(len) bytes) runs past the end of the value")
                }
                guard let s = b.utf8String(p + 4, len) else { throw wrong("string \(k) is not valid UTF-8") }
                strings.append(s)
                p += 4 + len
            }
            guard p == end else { throw wrong("\(end - p) unexpected bytes after the last string") }
            value = .strings(strings)
        default:
            value = nil // A type from a later minor version: skipped.
        }
        if let value {
            values[key] = value
            keys.append(key)
        }
        pos = v + valueSize
    }
    return (values, keys)
}
