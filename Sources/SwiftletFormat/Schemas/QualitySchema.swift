/// The quality profile a model may carry, written by `swiftlet profile`: for each setting of the
/// family's budget knob, a score measured on held-out data. The keys are the same for every family;
/// a setting is spelled as `swiftlet bench --budget` spells it ("r=8", "r=8,-1", "r=16,8,4", "loops=4",
/// "trajectory=0.5,0.25,0.25").
public enum QualitySchema {
    public enum Key {
        /// One of `Metric`'s raw values.
        public static let metric = "quality.metric"
        /// [string]: the settings measured; the family's full-quality setting is among them.
        public static let settings = "quality.settings"
        /// [float]: the score of each setting, in the order of `settings`.
        public static let scores = "quality.scores"
        /// int: how many items (images, sequences) the scores were measured on.
        public static let samples = "quality.samples"
        /// string: what the data was (a file name, a description).
        public static let data = "quality.data"
    }

    public enum Metric: String, Sendable, CaseIterable {
        /// Top-1 accuracy against labels, in [0, 1].
        case top1
        /// Top-1 agreement with the full-quality setting's answer, in [0, 1] (data without labels).
        case agreement
        /// Perplexity of held-out text (lower is better), ≥ 1.
        case perplexity

        public var higherIsBetter: Bool { self != .perplexity }
    }

    /// Most settings a profile may hold.
    public static let maxSettings = 4096
}
