/// Resolves a conversion's constructor arguments in one order for every family:
/// 1. the config — the user's file, completed by what the checkpoint records about itself;
/// 2. what the tensors determine (a width, a count): used when the config is silent, and a config
///    value that contradicts it is refused, naming the key, the value and what the tensors say;
/// 3. for what neither determines (a head count), the official constructor's default — with a
///    warning naming the key and the default, because a wrong guess runs but computes garbage.
public struct Hyperparameters {
    public let config: ConstructorConfig
    /// One line per defaulted key.
    public private(set) var warnings: [String] = []

    public init(_ config: ConstructorConfig) {
        self.config = config
    }

    /// `key` as the tensors determine it: `actual`, as `evidence` shows (e.g. "'wte.weight' has
    /// shape [101, 32]").
    public func int(_ key: String, inferred actual: Int, _ evidence: @autoclosure () -> String) throws -> Int {
        try agree(key, config.has(key) ? try config.int(key) : nil, actual, evidence)
    }

    public func bool(_ key: String, inferred actual: Bool, _ evidence: @autoclosure () -> String) throws -> Bool {
        try agree(key, config.has(key) ? try config.bool(key, default: actual) : nil, actual, evidence)
    }

    public func string(_ key: String, inferred actual: String, _ evidence: @autoclosure () -> String) throws -> String {
        try agree(key, config.has(key) ? try config.string(key) : nil, actual, evidence)
    }

    private func agree<T: Equatable>(_ key: String, _ given: T?, _ actual: T, _ evidence: () -> String) throws -> T {
        guard let given, given != actual else { return actual }
        throw contradiction(key, given, "\(evidence()), so \(key) = \(ConstructorConfig.describe(actual))")
    }

    /// The error for a config value `given` that the checkpoint contradicts, as `evidence` says
    /// (`label`: how to name the key when it sits inside a nested object).
    public func contradiction(_ key: String, _ given: Any, _ evidence: String, as label: String? = nil) -> ConvertError
    {
        ConvertError(
            "\(config.origin(of: key)): \(label ?? key) = \(ConstructorConfig.describe(given)) contradicts the checkpoint: \(evidence)"
        )
    }

    /// `key` from the config; when absent, the official default `d`, with a warning (`why`: whose
    /// default it is, what a wrong one does).
    public mutating func int(_ key: String, default d: Int, _ why: String? = nil) throws -> Int {
        if config.has(key) { return try config.int(key) }
        warnDefault([key], [String(d)], why)
        return d
    }

    public mutating func double(_ key: String, default d: Double, _ why: String? = nil) throws -> Double {
        if config.has(key) { return try config.double(key) }
        warnDefault([key], [ConstructorConfig.describe(d)], why)
        return d
    }

    /// Records that `keys` took their defaults `values` (for one reason, `why`), in one warning.
    public mutating func warnDefault(_ keys: [String], _ values: [String], _ why: String? = nil) {
        let one = keys.count == 1
        let settings = zip(keys, values).map { "\($0) = \($1)" }.joined(separator: ", ")
        warnings.append(
            "\(keys.joined(separator: ", ")) \(one ? "is" : "are") given neither by the config nor by the checkpoint, and the tensors do not determine \(one ? "it" : "them"): using \(settings)\(why.map { " (\($0))" } ?? ""); if the model was trained otherwise, set \(one ? "it" : "them") in the config"
        )
    }
}
