import Foundation
import SwiftletFormat
import Synchronization

/// How tensors are stored.
public struct ConvertOptions: Sendable {
    /// Storage type of large float weight matrices (f32 keeps them exact).
    public var weightDType: DType = .f32
    /// MemoryFormer: storage type of the hash tables (f32, f16, q8Row or q4Block).
    public var tableDType: DType = .f32
    /// zstd-compress tensors (floats byte-shuffled first).
    public var compress = false
    /// `general.name`.
    public var name: String?
    /// `general.labels`: one name per output class (the loader checks the count).
    public var labels: [String]?
    /// `tokenizer.*`: a language model's tokenizer (`TokenizerJSON.metadata`).
    public var tokenizer: [String: MetadataValue]?
    /// `image.*`: how images become the model's input (image classifiers: vit).
    public var preprocess: PreprocessConfig?

    public init(
        weightDType: DType = .f32, tableDType: DType = .f32, compress: Bool = false, name: String? = nil,
        labels: [String]? = nil, tokenizer: [String: MetadataValue]? = nil, preprocess: PreprocessConfig? = nil
    ) {
        self.weightDType = weightDType
        self.tableDType = tableDType
        self.compress = compress
        self.name = name
        self.labels = labels
        self.tokenizer = tokenizer
        self.preprocess = preprocess
    }
}

/// One family's conversion: official checkpoint tensors + constructor arguments → .swl contents.
public protocol FamilyConverter: Sendable {
    static var family: String { get }
    /// Constructor arguments the checkpoint records about itself (training arguments, a
    /// `config.json`), renamed to the constructor's keys, each set with where it was found. They
    /// complete the user's config, which must agree with them.
    static func storedArguments(in checkpoint: Checkpoint) -> [(origin: String, values: [String: Any])]
    /// Fills `output` (metadata and tensors). `general.family` and `general.converter` are set by
    /// the caller. Must not record anything about the source file, so that a .pth and a
    /// .safetensors of the same weights convert to identical bytes.
    static func convert(
        _ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions,
        into output: inout ModelWriter) throws
}

extension FamilyConverter {
    public static func storedArguments(in checkpoint: Checkpoint) -> [(origin: String, values: [String: Any])] { [] }
}

extension Checkpoint {
    /// The `keys` found in the extra entry `name` (a dict, or an object's attributes); nil when
    /// there is no such entry.
    public func storedArguments(_ name: String, keys: Set<String>) -> (origin: String, values: [String: Any])? {
        guard let entries = extras[name]?.dictionary else { return nil }
        return ("the checkpoint's '\(name)'", entries.filter { keys.contains($0.key) }.mapValues(\.foundationValue))
    }
}

/// Wraps SWLWriter with the conversions every family needs: float tensors stored in the chosen dtype
/// and codec.
public struct ModelWriter {
    public var writer = SWLWriter()
    public let options: ConvertOptions
    /// Things the user should know about the result (a guessed constructor argument), one line each.
    public private(set) var warnings: [String] = []

    public init(options: ConvertOptions) {
        self.options = options
    }

    public mutating func metadata(_ key: String, _ value: MetadataValue) {
        writer.setMetadata(key, value)
    }

    public mutating func warn(_ message: String) {
        warnings.append(message)
    }

    /// Stores float values as `dtype` (f32 unless the caller asks for a compact type).
    public mutating func floats(_ name: String, _ values: [Float], shape: [Int], dtype: DType = .f32) throws {
        guard shape.reduce(1, *) == values.count else {
            throw ConvertError("internal: tensor '\(name)' has \(values.count) values for shape \(shape)")
        }
        let bytes: [UInt8]
        switch dtype {
        case .f32: bytes = Quantize.f32Bytes(values)
        case .f16: bytes = Quantize.f16Bytes(values)
        case .bf16: bytes = Quantize.bf16Bytes(values)
        case .q8Row:
            let cols = shape.last ?? 1
            bytes = Quantize.q8RowBytes(values, rows: values.count / max(cols, 1), cols: cols)
        case .q4Block:
            let cols = shape.last ?? 1
            bytes = Quantize.q4BlockBytes(values, rows: values.count / max(cols, 1), cols: cols)
        default: throw ConvertError("internal: cannot store floats as \(dtype)")
        }
        try writer.addTensor(
            name: name, dtype: dtype, shape: shape, bytes: bytes,
            codec: options.compress ? .zstd : .raw, shuffle: options.compress)
    }

    /// Copies a checkpoint tensor as float32 (any float dtype), checking its shape.
    public mutating func copy(
        _ checkpoint: Checkpoint, _ source: String, as name: String? = nil,
        shape: [Int]? = nil, dtype: DType = .f32
    ) throws {
        let t = try checkpoint.require(source, shape: shape)
        try floats(name ?? source, try t.floats(), shape: t.shape, dtype: dtype)
    }
}

extension Checkpoint {
    /// A tensor that must exist, optionally with a given shape.
    public func require(_ name: String, shape: [Int]? = nil) throws -> CheckpointTensor {
        guard let t = self[name] else {
            throw ConvertError("the checkpoint has no tensor '\(name)'; is this the right family and checkpoint?")
        }
        if let shape, t.shape != shape {
            throw ConvertError("checkpoint tensor '\(name)' has shape \(t.shape), the config implies \(shape)")
        }
        return t
    }
}

/// What a conversion tells its caller as it goes (`Converter.convert`).
public enum ConvertEvent: Sendable {
    /// A step begins: "reading ckpt.pth", "writing model.swl".
    case step(String)
    /// The checkpoint has been read: its tensors with the names, shapes and dtypes it stores.
    case checkpoint(Checkpoint)
    /// How far the conversion has got (often: once per tensor).
    case progress(ConvertProgress)
}

/// How far a conversion has got: while converting, the checkpoint tensors read so far (a tensor the
/// model does not use is never read, so the count may end below the total); while writing, the
/// `.swl` tensors checksummed (and compressed) so far, by their raw bytes.
public struct ConvertProgress: Sendable, Equatable {
    public enum Stage: String, Sendable { case converting, writing }
    public var stage: Stage
    public var tensors: Int
    public var totalTensors: Int
    public var bytes: Int
    public var totalBytes: Int

    public init(stage: Stage, tensors: Int, totalTensors: Int, bytes: Int, totalBytes: Int) {
        self.stage = stage
        self.tensors = tensors
        self.totalTensors = totalTensors
        self.bytes = bytes
        self.totalBytes = totalBytes
    }

    /// Bytes done as a fraction of all, in [0, 1].
    public var fraction: Double { totalBytes > 0 ? min(1, Double(bytes) / Double(totalBytes)) : 1 }
}

/// Runs a conversion end to end.
public enum Converter {
    public static let version = "swiftlet-convert 0.1.0"

    public static let families: [any FamilyConverter.Type] = [
        ViTConverter.self, LMUFormerConverter.self, LoopFormerConverter.self, MemoryFormerConverter.self,
    ]

    public static func converter(for family: String) throws -> any FamilyConverter.Type {
        guard let c = families.first(where: { $0.family == family }) else {
            let known = families.map { $0.family }.joined(separator: ", ")
            throw ConvertError("unknown family '\(family)'; the converter knows: \(known.isEmpty ? "none yet" : known)")
        }
        return c
    }

    /// Converts `checkpointPath` with the constructor arguments at `configPath` (none: only what the
    /// checkpoint records and its tensors show) into `outputPath`. Returns the warnings.
    @discardableResult
    public static func convert(
        family: String, configPath: String?, checkpointPath: String, outputPath: String,
        options: ConvertOptions, force: Bool, events: @escaping @Sendable (ConvertEvent) -> Void = { _ in }
    ) throws -> [String] {
        if !force && FileManager.default.fileExists(atPath: outputPath) {
            throw ConvertError("\(outputPath) exists; pass --force to overwrite it")
        }
        let converter = try converter(for: family)
        let config =
            try configPath.map(ConstructorConfig.init(path:)) ?? ConstructorConfig(values: [:], source: "the config")
        events(.step("reading \(checkpointPath)"))
        let checkpoint = try CheckpointReader.read(path: checkpointPath)
        events(.checkpoint(checkpoint))
        var options = options
        if options.name == nil { options.name = defaultName(checkpointPath: checkpointPath) }
        let out = try build(converter, checkpoint: checkpoint, config: config, options: options, events: events)
        events(.step("writing \(outputPath)"))
        try out.writer.write(to: outputPath) { tensors, totalTensors, bytes, totalBytes in
            events(
                .progress(
                    ConvertProgress(
                        stage: .writing, tensors: tensors, totalTensors: totalTensors, bytes: bytes,
                        totalBytes: totalBytes)))
        }
        return out.warnings
    }

    /// A file converted without a name is named after its checkpoint, so that every converted file has
    /// `general.name`: the file name without its extension (`deit_tiny.pth` → `deit_tiny`), or a
    /// Hugging Face folder's name. A .pth and a .safetensors of the same name still give the same bytes.
    public static func defaultName(checkpointPath: String) -> String {
        let url = URL(fileURLWithPath: checkpointPath)
        var isFolder: ObjCBool = false
        let folder =
            FileManager.default.fileExists(atPath: checkpointPath, isDirectory: &isFolder) && isFolder.boolValue
        let name = folder ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        return name.isEmpty ? url.lastPathComponent : name
    }

    /// The .swl bytes of a conversion (deterministic).
    public static func convertToBytes(
        _ converter: any FamilyConverter.Type, checkpoint: Checkpoint, config: ConstructorConfig,
        options: ConvertOptions
    ) throws -> [UInt8] {
        try conversion(converter, checkpoint: checkpoint, config: config, options: options).bytes
    }

    /// The .swl bytes of a conversion and its warnings.
    public static func conversion(
        _ converter: any FamilyConverter.Type, checkpoint: Checkpoint, config: ConstructorConfig,
        options: ConvertOptions
    ) throws
        -> (bytes: [UInt8], warnings: [String])
    {
        let out = try build(converter, checkpoint: checkpoint, config: config, options: options)
        return (try out.writer.serialize(), out.warnings)
    }

    static func build(
        _ converter: any FamilyConverter.Type, checkpoint: Checkpoint, config: ConstructorConfig,
        options: ConvertOptions, events: @escaping @Sendable (ConvertEvent) -> Void = { _ in }
    ) throws -> ModelWriter {
        // int4 has in-place kernels only where it was measured to pay: MemoryFormer's tables, embedding
        // and LM head (compact GEMV and table gather). Elsewhere it would be widened at load.
        if options.weightDType == .q4Block && converter.family != MemoryFormerConverter.family {
            throw ConvertError(
                "--dtype q4 is not supported for \(converter.family) models: only memoryformer reads q4_block weights in place (its embedding, LM head and tables); use f32, f16, bf16 or q8"
            )
        }
        var config = config
        for (origin, values) in converter.storedArguments(in: checkpoint) {
            config = try config.completed(by: values, origin: origin)
        }
        var out = ModelWriter(options: options)
        out.metadata(GeneralSchema.Key.family, .string(converter.family))
        out.metadata(GeneralSchema.Key.converter, .string(version))
        if let name = options.name { out.metadata(GeneralSchema.Key.name, .string(name)) }
        if let labels = options.labels { out.metadata(GeneralSchema.Key.labels, .strings(labels)) }
        for (key, value) in options.tokenizer ?? [:] { out.metadata(key, value) }
        if options.preprocess != nil, converter.family != ViTSchema.family {
            throw ConvertError(
                "--preprocess is for image classifiers (vit); the \(converter.family) family takes no images")
        }
        // Progress while converting: the checkpoint tensors read so far, counted as each is decoded.
        let totalBytes = checkpoint.tensors.reduce(0) { $0 + $1.bytes.count }
        let read = Mutex((names: Set<String>(), bytes: 0))
        try CheckpointTensor.withReadObserver({ tensor in
            let done = read.withLock { state -> (Int, Int)? in
                guard state.names.insert(tensor.name).inserted else { return nil }
                state.bytes += tensor.bytes.count
                return (state.names.count, state.bytes)
            }
            guard let (tensors, bytes) = done else { return }
            events(
                .progress(
                    ConvertProgress(
                        stage: .converting, tensors: tensors, totalTensors: checkpoint.tensors.count, bytes: bytes,
                        totalBytes: totalBytes)))
        }) {
            try converter.convert(checkpoint, config: config, options: options, into: &out)
        }
        return out
    }
}
