import SwiftletFormat

/// A byte-level BPE tokenizer (GPT-2, GPT-NeoX, Pythia) read from a model's `tokenizer.*` metadata.
/// Gives the ids and the text the Hugging Face `tokenizers` package gives for the same
/// `tokenizer.json` (encode without added special tokens; decode with or without specials).
/// Immutable; safe to share between threads.
public struct Tokenizer: Sendable {
    /// Every token, by id.
    public let tokens: [String]
    /// The bytes each token decodes to: the byte-level alphabet undone, or for a token holding
    /// characters outside the alphabet, its own UTF-8 text.
    let tokenBytes: [[UInt8]]
    let isSpecial: [Bool]
    let byteToken: [Int32] // the one-byte token of each byte, -1 if the vocabulary lacks it
    let wholeWords: [[UInt8]: Int32] // with ignore_merges: words the vocabulary holds whole
    let merges: BytePairMerges
    let rawAdded: AddedTokenMatcher // added tokens matched in the text as given
    let normalizedAdded: AddedTokenMatcher // ... and in the normalized text
    let normalizer: TokenizerSchema.Normalizer
    let addPrefixSpace: Bool

    /// The number of ids (vocabulary and added tokens).
    public var count: Int { tokens.count }

    /// The tokenizer a model's metadata holds; nil if it holds none.
    public init?(metadata: [String: MetadataValue]) throws(TokenizerError) {
        typealias K = TokenizerSchema.Key
        guard let model = metadata[K.model] else {
            if let stray = metadata.keys.sorted().first(where: { $0.hasPrefix("tokenizer.") }) {
                throw TokenizerError(.format, "\(stray) is set but \(K.model) is not; convert the model again")
            }
            return nil
        }
        func bad(_ m: String) -> TokenizerError { TokenizerError(.format, m) }
        guard case .string(let name) = model, TokenizerSchema.Model(rawValue: name) == .byteLevelBPE else {
            throw bad("\(K.model) is \(model); this build reads '\(TokenizerSchema.Model.byteLevelBPE.rawValue)'")
        }
        guard case .strings(let tokens)? = metadata[K.tokens], !tokens.isEmpty,
            tokens.count <= TokenizerSchema.maxTokens
        else { throw bad("\(K.tokens) must be a list of 1 to \(TokenizerSchema.maxTokens) strings") }
        func strings(_ k: String) throws(TokenizerError) -> [String] {
            switch metadata[k] {
            case nil: return []
            case .strings(let a)?: return a
            default: throw bad("\(k) must be a list of strings")
            }
        }
        func ints(_ k: String) throws(TokenizerError) -> [Int64] {
            switch metadata[k] {
            case nil: return []
            case .ints(let a)?: return a
            default: throw bad("\(k) must be a list of integers")
            }
        }
        func flag(_ k: String) throws(TokenizerError) -> Bool {
            switch metadata[k] {
            case nil: return false
            case .bool(let b)?: return b
            default: throw bad("\(k) must be a bool")
            }
        }
        self.tokens = tokens
        switch metadata[K.normalizer] {
        case nil: normalizer = .none
        case .string(let s)?:
            guard let n = TokenizerSchema.Normalizer(rawValue: s) else {
                throw bad("\(K.normalizer) '\(s)' is not one this build knows (none, nfc)")
            }
            normalizer = n
        default: throw bad("\(K.normalizer) must be a string")
        }
        addPrefixSpace = try flag(K.addPrefixSpace)

        var ids: [String: Int32] = [:]
        ids.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil {
            guard t.utf8.count <= TokenizerSchema.maxTokenBytes else {
                throw bad(
                    "\(K.tokens)[\(i)] is \(t.utf8.count) bytes long; the most is \(TokenizerSchema.maxTokenBytes)")
            }
            ids[t] = Int32(i)
        }
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { byteToken[b] = ids[String(ByteLevel.characters[b])] ?? -1 }
        self.byteToken = byteToken

        // Added tokens: their text is what is matched and what they decode to.
        let addedIDs = try ints(K.addedIDs)
        let addedFlags = try ints(K.addedFlags)
        guard addedIDs.count == addedFlags.count else {
            throw bad("\(K.addedIDs) has \(addedIDs.count) entries but \(K.addedFlags) has \(addedFlags.count)")
        }
        var isAdded = [Bool](repeating: false, count: tokens.count)
        var isSpecial = [Bool](repeating: false, count: tokens.count)
        var raw = AddedTokenMatcher()
        var normalized = AddedTokenMatcher()
        for (id, flags) in zip(addedIDs, addedFlags) {
            guard id >= 0, id < tokens.count else { throw bad("\(K.addedIDs) holds \(id), not a token id") }
            guard flags & ~(TokenizerSchema.AddedFlag.special | TokenizerSchema.AddedFlag.normalized) == 0 else {
                throw bad("\(K.addedFlags) holds unknown bits \(flags)")
            }
            let text = tokens[Int(id)]
            guard !text.isEmpty else { throw bad("added token \(id) is empty") }
            isAdded[Int(id)] = true
            isSpecial[Int(id)] = flags & TokenizerSchema.AddedFlag.special != 0
            if flags & TokenizerSchema.AddedFlag.normalized != 0 {
                normalized.insert(Self.normalize(Array(text.utf8), normalizer), id: Int32(id))
            } else {
                raw.insert(Array(text.utf8), id: Int32(id))
            }
        }
        self.isSpecial = isSpecial
        rawAdded = raw
        normalizedAdded = normalized
        // Added tokens too go through the byte-level alphabet, as the package decodes them ("Å" is the
        // character of byte 0xC5, so it decodes to that byte); only text outside the alphabet ("  ")
        // stays as written.
        tokenBytes = tokens.map { ByteLevel.decode($0) ?? Array($0.utf8) }

        let mergeList = try strings(K.merges)
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(mergeList.count)
        for (rank, m) in mergeList.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let a = ids[String(parts[0])], let b = ids[String(parts[1])],
                let merged = ids[String(parts[0]) + String(parts[1])]
            else { throw bad("\(K.merges)[\(rank)] '\(m)' is not two tokens of the vocabulary whose join is one") }
            let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged)) }
        }
        merges = BytePairMerges(table: table)
        var whole: [[UInt8]: Int32] = [:]
        if try flag(K.ignoreMerges) {
            for (i, t) in tokens.enumerated() where !isAdded[i] {
                if let b = ByteLevel.decode(t), whole[b] == nil { whole[b] = Int32(i) }
            }
        }
        wholeWords = whole
    }

    // MARK: - Text to ids

    /// The ids of `text`, as `tokenizers`' `encode(text, add_special_tokens=False)` gives them. Added
    /// tokens written in the text (`<|endoftext|>`) become their ids.
    public func encode(_ text: String) -> [Int32] {
        var out: [Int32] = []
        let bytes = Array(text.utf8)
        for piece in rawAdded.split(bytes) {
            switch piece {
            case .token(let id): out.append(id)
            case .text(let r):
                let normalized = Self.normalize(Array(bytes[r]), normalizer)
                for inner in normalizedAdded.split(normalized) {
                    switch inner {
                    case .token(let id): out.append(id)
                    case .text(let r2): encodeWords(Array(normalized[r2]), into: &out)
                    }
                }
            }
        }
        return out
    }

    /// Checks that `bytes` are UTF-8 and encodes them; the C API's entry point.
    public func encode(utf8 bytes: UnsafeBufferPointer<UInt8>) throws(TokenizerError) -> [Int32] {
        var it = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): offset += UTF8.width(s)
            case .emptyInput: break loop
            case .error:
                throw TokenizerError(.invalidArgument, "the text is not valid UTF-8 (at byte \(offset))")
            }
        }
        return encode(String(decoding: bytes, as: UTF8.self))
    }

    private func encodeWords(_ piece: [UInt8], into out: inout [Int32]) {
        var text = String(decoding: piece, as: UTF8.self)
        if addPrefixSpace && piece.first != UInt8(ascii: " ") { text = " " + text }
        let scalars = Array(text.unicodeScalars)
        for word in WordSplit.words(scalars) {
            var bytes: [UInt8] = []
            for s in scalars[word] { UTF8.encode(s) { bytes.append($0) } }
            if let id = wholeWords[bytes] {
                out.append(id)
                continue
            }
            // A byte the vocabulary lacks is dropped, as the package does without an unknown token.
            var symbols = bytes.compactMap { byteToken[Int($0)] >= 0 ? byteToken[Int($0)] : nil }
            merges.apply(&symbols)
            out.append(contentsOf: symbols)
        }
    }

    static func normalize(_ bytes: [UInt8], _ normalizer: TokenizerSchema.Normalizer) -> [UInt8] {
        switch normalizer {
        case .none: return bytes
        // The standard library's own NFC (it compares strings by canonical equivalence).
        case .nfc: return String(decoding: bytes, as: UTF8.self)._nfcCodeUnits
        }
    }

    // MARK: - Ids to text

    /// The bytes of `ids` (with special tokens unless `skipSpecial`); they may end inside a character.
    public func bytes(_ ids: some Sequence<Int32>, skipSpecial: Bool = false) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0, Int(id) < tokens.count else {
                throw TokenizerError(
                    .invalidArgument, "token id \(id) is outside the vocabulary (0 to \(tokens.count - 1))")
            }
            if skipSpecial && isSpecial[Int(id)] { continue }
            out.append(contentsOf: tokenBytes[Int(id)])
        }
        return out
    }

    /// The text of `ids`, as `tokenizers`' `decode` gives it: bytes that do not form UTF-8 become
    /// U+FFFD.
    public func decode(_ ids: some Sequence<Int32>, skipSpecial: Bool = false) throws(TokenizerError) -> String {
        String(decoding: try bytes(ids, skipSpecial: skipSpecial), as: UTF8.self)
    }

    /// Whether `id` is a special token (end of text, padding).
    public func isSpecial(_ id: Int32) -> Bool { id >= 0 && Int(id) < isSpecial.count && isSpecial[Int(id)] }
}
