/// What a file of the built-in `test` family holds (`TestModel.fileBytes` writes it, `TestModel`
/// reads it): its metadata keys and tensor names.
public enum TestSchema {
    public static let family = "test"

    public enum Key {
        public static let layers = "test.layers"
        public static let width = "test.width"
        public static let classes = "test.classes"
        public static let vocab = "test.vocab"
        public static let context = "test.context"
    }

    public static func layerWeight(_ i: Int) -> String { "layers.\(i).weight" } // [width, width]
    public static func layerBias(_ i: Int) -> String { "layers.\(i).bias" } // [width]
    public static let headWeight = "head.weight" // [classes, width]
    public static let headBias = "head.bias" // [classes]
    public static let embedding = "embed.weight" // [vocab, width]
    public static let lmHead = "lm_head.weight" // [vocab, width]
}
