/// The text tokenizer a language model may carry (`swiftlet convert --tokenizer tokenizer.json`):
/// its metadata keys (Formats/swl.md §5, "Tokenizer keys"). Written by the converter from a Hugging
/// Face `tokenizer.json`, read by `SwiftletText.Tokenizer`.
public enum TokenizerSchema {
    public enum Key {
        /// string: the algorithm, `Model.byteLevelBPE.rawValue` (the only one so far).
        public static let model = "tokenizer.model"
        /// [string]: every token by id (0, 1, ...): the model's vocabulary in the byte-level alphabet
        /// (GPT-2's byte-to-character map), added tokens as their text.
        public static let tokens = "tokenizer.tokens"
        /// [string]: the merges by rank, each "left right" (byte-level tokens never hold a space).
        public static let merges = "tokenizer.merges"
        /// [int]: ids of the added tokens, matched in the text before it is split into words.
        public static let addedIDs = "tokenizer.added_ids"
        /// [int]: `AddedFlag` bits of each added token, in the order of `addedIDs`.
        public static let addedFlags = "tokenizer.added_flags"
        /// string: `Normalizer.rawValue`.
        public static let normalizer = "tokenizer.normalizer"
        /// bool: a space is put before text that does not start with one (the ByteLevel option).
        public static let addPrefixSpace = "tokenizer.add_prefix_space"
        /// bool: a word found whole in the vocabulary is one token, whatever the merges say.
        public static let ignoreMerges = "tokenizer.ignore_merges"
    }

    public enum Model: String, Sendable {
        /// GPT-2's: the GPT-2 split pattern, bytes mapped to characters, BPE merges by rank.
        case byteLevelBPE = "byte_level_bpe"
    }

    public enum Normalizer: String, Sendable {
        case none
        /// Unicode canonical composition (GPT-NeoX, Pythia).
        case nfc
    }

    public enum AddedFlag {
        /// A special token (end of text, padding): skipped when text is asked without specials.
        public static let special: Int64 = 1
        /// Matched in the normalized text (otherwise in the text as given).
        public static let normalized: Int64 = 2
    }

    /// Bounds for hostile files: ids are int32, and no real vocabulary comes near these.
    public static let maxTokens = 1 << 22
    public static let maxTokenBytes = 4096
}
