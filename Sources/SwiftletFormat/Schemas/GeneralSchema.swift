/// Keys every family may carry (Formats/swl.md §5, "Standard keys").
public enum GeneralSchema {
    public enum Key {
        /// string, required: the family that loads the file.
        public static let family = "general.family"
        /// string: a human-readable name.
        public static let name = "general.name"
        /// string: the converter and its version.
        public static let converter = "general.converter"
        /// string: `xxh64:` and 16 hex digits, the hash of the tensors.
        public static let tensorHash = "general.tensor_hash"
        /// [string]: one name per output class, in class order (classifiers: ViT, LMUFormer).
        public static let labels = "general.labels"
    }

    /// Most classes a label list may name, and the longest name (bytes): a bound for hostile files.
    public static let maxLabels = 1 << 20
    public static let maxLabelBytes = 1024
}
