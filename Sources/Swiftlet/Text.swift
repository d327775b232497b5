import SwiftletText

extension Model {
    /// Whether the model carries a tokenizer (a language model converted with `--tokenizer`).
    public var hasTokenizer: Bool { tokenizer != nil }

    /// The token ids of `text`, as Hugging Face `tokenizers` gives them with
    /// `encode(text, add_special_tokens=False)`: special tokens written in the text become their ids.
    public func tokenize(_ text: String) throws(SwiftletError) -> [Int32] {
        try requireTokenizer().encode(text)
    }

    /// Checks that `bytes` are UTF-8 and tokenizes them (the C API's entry point).
    public func tokenize(utf8 bytes: UnsafeBufferPointer<UInt8>) throws(SwiftletError) -> [Int32] {
        let t = try requireTokenizer()
        do { return try t.encode(utf8: bytes) } catch { throw SwiftletError(error) }
    }

    /// The text of `ids`, as `tokenizers`' `decode` gives it (bytes that do not form UTF-8 become
    /// U+FFFD). Without special tokens if `skipSpecial`.
    public func detokenize(_ ids: [Int32], skipSpecial: Bool = false) throws(SwiftletError) -> String {
        let t = try requireTokenizer()
        do { return try t.decode(ids, skipSpecial: skipSpecial) } catch { throw SwiftletError(error) }
    }

    /// A decoder for text that arrives one token at a time (generation).
    public func detokenizer(skipSpecial: Bool = false) throws(SwiftletError) -> Detokenizer {
        Detokenizer(TextDecoder(try requireTokenizer(), skipSpecial: skipSpecial))
    }

    /// Whether `id` is one of the tokenizer's special tokens (end of text, padding).
    public func isSpecialToken(_ id: Int32) -> Bool { tokenizer?.isSpecial(id) ?? false }

    func requireTokenizer() throws(SwiftletError) -> Tokenizer {
        guard let tokenizer else {
            throw .unsupported(
                "the model carries no tokenizer; convert it with --tokenizer tokenizer.json, or pass token ids")
        }
        return tokenizer
    }
}

/// Text from ids given one at a time: each `append` returns only whole characters, holding back the
/// bytes of a character a token leaves unfinished until a later token completes it. Joined, the pieces
/// are `Model.detokenize` of all the ids.
public struct Detokenizer: Sendable {
    private var decoder: TextDecoder

    init(_ decoder: TextDecoder) { self.decoder = decoder }

    /// The text `id` completes (empty while a character is unfinished).
    public mutating func append(_ id: Int32) throws(SwiftletError) -> String {
        do { return try decoder.append(id) } catch { throw SwiftletError(error) }
    }

    /// What is still held back (an unfinished character becomes U+FFFD); the detokenizer is then new.
    public mutating func finish() -> String { decoder.finish() }
}

extension SwiftletError {
    init(_ e: TokenizerError) {
        switch e.kind {
        case .format: self = .format(e.message)
        case .invalidArgument: self = .invalidArgument(e.message)
        }
    }
}
