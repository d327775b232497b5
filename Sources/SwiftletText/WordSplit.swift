/// GPT-2's split of text into words before BPE, the pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, matched by hand
/// (alternatives in order, leftmost first) on Unicode scalars. \s is the White_Space property, \p{L}
/// and \p{N} the general categories, as in the Oniguruma regex the `tokenizers` package uses.
enum WordSplit {
    enum Kind { case space, letter, number, other }

    static func kind(_ s: Unicode.Scalar) -> Kind {
        if s.value < 0x80 {
            // ASCII fast path; the same answers as the general categories.
            switch s.value {
            case 0x41...0x5A, 0x61...0x7A: return .letter
            case 0x30...0x39: return .number
            case 0x09...0x0D, 0x20: return .space
            default: return .other
            }
        }
        let p = s.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The words of `text` as ranges of scalar indices, in order, covering it.
    static func words(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        let kinds = text.map(kind)
        var out: [Range<Int>] = []
        var i = 0
        while i < text.count {
            let end = wordEnd(text, kinds, from: i)
            out.append(i..<end)
            i = end
        }
        return out
    }

    private static func wordEnd(_ t: [Unicode.Scalar], _ k: [Kind], from i: Int) -> Int {
        let n = t.count
        // 's 't 're 've 'm 'll 'd (lower case only, as the pattern is written).
        if t[i] == "'" && i + 1 < n {
            switch t[i + 1] {
            case "s", "t", "m", "d": return i + 2
            // One case per letter: a `where` clause binds only the last pattern of its case.
            case "r" where i + 2 < n && t[i + 2] == "e": return i + 3
            case "v" where i + 2 < n && t[i + 2] == "e": return i + 3
            case "l" where i + 2 < n && t[i + 2] == "l": return i + 3
            default: break
            }
        }
        // An optional space, then a run of letters, of numbers, or of other characters.
        let start = (t[i] == " " && i + 1 < n && k[i + 1] != .space) ? i + 1 : i
        if k[start] != .space {
            var j = start + 1
            while j < n && k[j] == k[start] { j += 1 }
            return j
        }
        // Whitespace: the run, less its last character when a word follows (that one leads the word).
        var j = i + 1
        while j < n && k[j] == .space { j += 1 }
        if j < n && j - i >= 2 { return j - 1 }
        return j
    }
}
