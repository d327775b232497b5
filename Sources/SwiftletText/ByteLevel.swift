/// GPT-2's byte-level alphabet: every byte is written as one printable character, so that a
/// vocabulary of strings can hold any byte sequence. Printable Latin-1 bytes stand for themselves; the
/// others (controls, space, soft hyphen, ...) take the characters from U+0100 on, in byte order.
enum ByteLevel {
    /// The character of each byte.
    static let characters: [Unicode.Scalar] = {
        var out: [Unicode.Scalar] = []
        var next: UInt32 = 256
        for b in 0..<256 {
            if standsForItself(UInt8(b)) {
                out.append(Unicode.Scalar(UInt32(b))!)
            } else {
                out.append(Unicode.Scalar(next)!)
                next += 1
            }
        }
        return out
    }()

    /// The byte of each character of the alphabet, indexed by scalar value (U+0000 to U+0143);
    /// -1 for characters outside it.
    static let bytes: [Int16] = {
        var out = [Int16](repeating: -1, count: 256 + 68)
        for (b, c) in characters.enumerated() { out[Int(c.value)] = Int16(b) }
        return out
    }()

    static func standsForItself(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    /// The bytes a token string stands for, or nil if it holds a character outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        for s in token.unicodeScalars {
            let v = Int(s.value)
            guard v < bytes.count, bytes[v] >= 0 else { return nil }
            out.append(UInt8(bytes[v]))
        }
        return out
    }

    /// The token string of a byte sequence.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var s = ""
        s.unicodeScalars.append(contentsOf: bytes.map { characters[Int($0)] })
        return s
    }
}
