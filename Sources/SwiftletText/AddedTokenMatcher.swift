/// Finds added tokens (special tokens, whitespace runs, ...) in text: leftmost match first, the longest
/// one at that position, as the `tokenizers` package splits text before the words are made.
struct AddedTokenMatcher: Sendable {
    /// A byte trie: `children[node]` maps a byte to the next node; `token[node]` is the id ending there.
    private var children: [[UInt8: Int32]] = [[:]]
    private var token: [Int32] = [-1]

    var isEmpty: Bool { children.count == 1 }

    mutating func insert(_ bytes: [UInt8], id: Int32) {
        var node = 0
        for b in bytes {
            if let next = children[node][b] {
                node = Int(next)
            } else {
                children.append([:])
                token.append(-1)
                children[node][b] = Int32(children.count - 1)
                node = children.count - 1
            }
        }
        // The first of two tokens with the same text wins, as in a vocabulary map.
        if token[node] < 0 { token[node] = id }
    }

    enum Piece: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    /// `bytes` as text pieces and the added tokens between them; empty text pieces are left out.
    func split(_ bytes: [UInt8]) -> [Piece] {
        if isEmpty { return bytes.isEmpty ? [] : [.text(0..<bytes.count)] }
        var out: [Piece] = []
        var textStart = 0
        var i = 0
        while i < bytes.count {
            var node = 0
            var best: (end: Int, id: Int32)? = nil
            var j = i
            while j < bytes.count, let next = children[node][bytes[j]] {
                node = Int(next)
                j += 1
                if token[node] >= 0 { best = (j, token[node]) }
            }
            if let best {
                if textStart < i { out.append(.text(textStart..<i)) }
                out.append(.token(best.id))
                i = best.end
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < bytes.count { out.append(.text(textStart..<bytes.count)) }
        return out
    }
}
