import SwiftletFormat

/// The quality profile a model carries (`QualitySchema`): the score of each measured setting, and its
/// quality as a fraction of the full-quality setting's — score ÷ full score for accuracies, full
/// perplexity ÷ perplexity for perplexities — so that 1 is full quality and less is worse.
public struct QualityProfile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// As a budget spells it, e.g. "r=8" or "loops=4".
        public let setting: String
        public let score: Double
        /// Fraction of the full-quality setting's quality.
        public let quality: Double
    }

    public let metric: QualitySchema.Metric
    public let entries: [Entry]
    public let samples: Int
    public let data: String

    /// Reads the profile from a model's metadata; nil when it has none. `full` is the family's
    /// full-quality setting, which must be among the entries. A damaged profile is an error.
    public init?(metadata: [String: MetadataValue], full: String) throws(ModelError) {
        typealias K = QualitySchema.Key
        guard let metricValue = metadata[K.metric] else { return nil }
        func bad(_ why: String) -> ModelError {
            ModelError(
                .format,
                "the model's quality profile is damaged: \(why); profile the model again with `swiftlet profile`")
        }
        guard case .string(let name) = metricValue, let metric = QualitySchema.Metric(rawValue: name) else {
            throw bad("\(K.metric) must be one of \(QualitySchema.Metric.allCases.map(\.rawValue))")
        }
        guard case .strings(let settings)? = metadata[K.settings] else { throw bad("\(K.settings) is missing") }
        let scores: [Double]
        switch metadata[K.scores] {
        case .floats(let v)?: scores = v
        default: throw bad("\(K.scores) is missing")
        }
        guard !settings.isEmpty, settings.count == scores.count, settings.count <= QualitySchema.maxSettings else {
            throw bad(
                "\(settings.count) settings and \(scores.count) scores (1 to \(QualitySchema.maxSettings), as many of each)"
            )
        }
        for (s, v) in zip(settings, scores) {
            let valid = metric == .perplexity ? (v.isFinite && v >= 1) : (v >= 0 && v <= 1)
            guard valid else { throw bad("the score of \(s) is \(v), not a valid \(metric.rawValue)") }
        }
        guard Set(settings).count == settings.count else { throw bad("a setting is listed twice") }
        guard let fullIndex = settings.firstIndex(of: full) else {
            throw bad("the full-quality setting \(full) is not among the settings")
        }
        let fullScore = scores[fullIndex]
        entries = zip(settings, scores).map { s, v in
            let q: Double
            if metric.higherIsBetter {
                // A full score of 0 leaves nothing to compare with: every setting counts as full.
                q = fullScore > 0 ? v / fullScore : 1
            } else {
                q = fullScore / v
            }
            return Entry(setting: s, score: v, quality: q)
        }
        self.metric = metric
        switch metadata[K.samples] {
        case .int(let n)?: samples = Int(clamping: n)
        default: samples = 0
        }
        if case .string(let d)? = metadata[K.data] { data = d } else { data = "" }
    }
}
