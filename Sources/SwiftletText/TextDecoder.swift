/// Turns ids into text one at a time, for generation that prints as it goes: each call gives only
/// whole characters, holding back the bytes of a character a token leaves unfinished until the next
/// token completes it. The pieces joined are exactly `Tokenizer.decode` of all the ids.
public struct TextDecoder: Sendable {
    public let tokenizer: Tokenizer
    public let skipSpecial: Bool
    private var pending: [UInt8] = []

    public init(_ tokenizer: Tokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// The text that `id` completes (often empty while a character is unfinished).
    public mutating func append(_ id: Int32) throws(TokenizerError) -> String {
        pending += try tokenizer.bytes(CollectionOfOne(id), skipSpecial: skipSpecial)
        let keep = Self.unfinishedTail(pending)
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// The bytes still held back, as text (an unfinished character becomes U+FFFD); then as new.
    public mutating func finish() -> String {
        defer { pending = [] }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes still held back.
    public var hasPending: Bool { !pending.isEmpty }

    /// How many bytes at the end of `b` begin a character that more bytes could still complete. Text
    /// is only cut before a lead byte, which always starts a new character or error, so the text
    /// before the cut decodes the same alone as inside the whole.
    static func unfinishedTail(_ b: [UInt8]) -> Int {
        var start = b.count - 1
        while start >= 0 && start >= b.count - 3 && b[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0, start >= b.count - 3 else { return 0 }
        let lead = b[start]
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0
        }
        let have = b.count - start
        guard have < length else { return 0 }
        // The second byte's range depends on the lead (no overlong forms, surrogates or > U+10FFFF).
        if have >= 2 {
            let second = b[start + 1]
            let ok: ClosedRange<UInt8> =
                switch lead {
                case 0xE0: 0xA0...0xBF
                case 0xED: 0x80...0x9F
                case 0xF0: 0x90...0xBF
                case 0xF4: 0x80...0x8F
                default: 0x80...0xBF
                }
            guard ok.contains(second) else { return 0 }
        }
        return have
    }
}
