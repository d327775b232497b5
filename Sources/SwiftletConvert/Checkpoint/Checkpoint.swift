/// The tensors of one checkpoint file, in the order the file lists them.
public struct Checkpoint: Sendable {
    /// The tensors, in source order (safetensors header order, or state-dict insertion order).
    public let tensors: [CheckpointTensor]
    /// `"safetensors"` or `"torch-zip"`.
    public let format: String
    /// Where the state dict was found inside a torch checkpoint (`"model"`, `"model.module"`, ...);
    /// nil when it is the top-level object, and for safetensors.
    public let stateDictKey: String?
    /// The safetensors `__metadata__` strings (empty for torch checkpoints).
    public let metadata: [String: String]
    /// State-dict entries that are not readable tensors (an unsupported dtype, a non-tensor value),
    /// each with the reason. Everything else loaded; converters decide whether they need these.
    public let skipped: [SkippedEntry]
    /// Plain values saved beside the weights, by name: the other top-level entries of a torch
    /// checkpoint (`model_args`, `args`, ...), or `config.json` of a Hugging Face folder. Converters
    /// read constructor arguments from them.
    public let extras: [String: StoredValue]

    private let index: [String: Int]

    /// Fails if two tensors share a name.
    public init(
        tensors: [CheckpointTensor], format: String, stateDictKey: String? = nil,
        metadata: [String: String] = [:], skipped: [SkippedEntry] = [], extras: [String: StoredValue] = [:]
    ) throws {
        var index = [String: Int](minimumCapacity: tensors.count)
        for (i, tensor) in tensors.enumerated() {
            guard index.updateValue(i, forKey: tensor.name) == nil else {
                throw CheckpointError("duplicate tensor name '\(tensor.name)'")
            }
        }
        self.tensors = tensors
        self.format = format
        self.stateDictKey = stateDictKey
        self.metadata = metadata
        self.skipped = skipped
        self.extras = extras
        self.index = index
    }

    /// The same tensors with `extras` added (replacing entries of the same name).
    public func adding(extras more: [String: StoredValue]) throws -> Checkpoint {
        try Checkpoint(
            tensors: tensors, format: format, stateDictKey: stateDictKey, metadata: metadata,
            skipped: skipped, extras: extras.merging(more) { $1 })
    }

    /// Tensor names in source order.
    public var names: [String] { tensors.map(\.name) }

    /// The tensor called `name`, if any.
    public subscript(name: String) -> CheckpointTensor? {
        index[name].map { tensors[$0] }
    }
}

/// A state-dict entry the reader could not turn into a tensor, and why.
public struct SkippedEntry: Sendable, CustomStringConvertible {
    public let name: String
    public let reason: String

    public var description: String { "\(name): \(reason)" }
}
