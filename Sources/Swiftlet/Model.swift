import SwiftletFormat
import SwiftletModels
import SwiftletText

/// Options for loading a model.
public struct LoadOptions: Sendable {
    /// Verify every tensor checksum while loading, instead of on first use.
    public var verifyEagerly = false
    public init(verifyEagerly: Bool = false) { self.verifyEagerly = verifyEagerly }

    var readOptions: ReadOptions { ReadOptions(verify: verifyEagerly ? .eager : .onFirstUse) }
}

/// A loaded model: immutable and safe to share between threads. Make a `Session` to run it or a
/// `Stream` to feed it frame by frame.
public final class Model: Sendable {
    let file: SWLFile
    let impl: any FamilyModel
    /// Class names from `general.labels`, one per output class; empty if the file has none.
    public let labels: [String]
    /// The tokenizer of a language model converted with `--tokenizer`; nil if it has none.
    let tokenizer: Tokenizer?

    /// Loads a `.swl` file (memory-mapped).
    public init(path: String, options: LoadOptions = LoadOptions()) throws(SwiftletError) {
        do {
            file = try SWLFile(path: path, options: options.readOptions)
        } catch {
            throw SwiftletError(error)
        }
        impl = try Self.family(file)
        labels = try Self.labels(file, impl)
        tokenizer = try Self.tokenizer(file, impl)
    }

    /// Loads a model from memory. With `copy: false` the bytes must outlive the model.
    public init(bytes: UnsafeRawBufferPointer, copy: Bool = true, options: LoadOptions = LoadOptions())
        throws(SwiftletError)
    {
        do {
            file = try SWLFile(bytes: bytes, copy: copy, options: options.readOptions)
        } catch {
            throw SwiftletError(error)
        }
        impl = try Self.family(file)
        labels = try Self.labels(file, impl)
        tokenizer = try Self.tokenizer(file, impl)
    }

    /// Loads a model from a byte array (copied).
    public convenience init(bytes: [UInt8], options: LoadOptions = LoadOptions()) throws(SwiftletError) {
        let result: Result<Model, SwiftletError> = bytes.withUnsafeBytes { raw in
            Result { () throws(SwiftletError) in try Model(bytes: raw, copy: true, options: options) }
        }
        try self.init(result.get())
    }

    private init(_ other: Model) {
        file = other.file
        impl = other.impl
        labels = other.labels
        tokenizer = other.tokenizer
    }

    private static func family(_ file: SWLFile) throws(SwiftletError) -> any FamilyModel {
        do {
            let model = try FamilyRegistry.load(file)
            Log.write(
                .info,
                "loaded a \(model.family) model: \(file.tensors.count) tensors, \(file.fileSize) bytes, format \(file.major).\(file.minor)"
            )
            return model
        } catch {
            Log.write(.error, "model load failed: \(error.message)")
            throw SwiftletError(error)
        }
    }

    private static func labels(_ file: SWLFile, _ impl: any FamilyModel) throws(SwiftletError) -> [String] {
        do { return try Labels.load(file.metadata, classes: impl.classCount) ?? [] } catch {
            throw SwiftletError(error)
        }
    }

    private static func tokenizer(_ file: SWLFile, _ impl: any FamilyModel) throws(SwiftletError) -> Tokenizer? {
        let tokenizer: Tokenizer?
        do { tokenizer = try Tokenizer(metadata: file.metadata) } catch { throw .format(error.message) }
        guard let tokenizer else { return nil }
        guard impl.inputs.first?.dtype == .i32, let vocab = impl.outputs.first?.shape.last else {
            throw .format("the file carries a tokenizer, but a \(impl.family) model takes no tokens")
        }
        guard tokenizer.count <= vocab else {
            throw .format(
                "the tokenizer has \(tokenizer.count) tokens but the model only \(vocab); convert it with the model's own tokenizer.json"
            )
        }
        return tokenizer
    }

    /// "vit", "lmuformer", "loopformer", "memoryformer" or "test".
    public var family: String { impl.family }
    public var metadata: [String: MetadataValue] { file.metadata }
    public var inputs: [TensorInfo] { impl.inputs }
    public var outputs: [TensorInfo] { impl.outputs }
    /// How many classes a classifier scores (the width of its output rows); nil for language models.
    public var classCount: Int? { impl.classCount }
    /// The budget knobs a session call (run, prefill, decode) takes; a budget setting another is refused.
    public var sessionKnobs: Set<BudgetKnob> { impl.sessionKnobs }
    /// The budget knobs a stream takes (empty for families that do not stream).
    public var streamKnobs: Set<BudgetKnob> { impl.streamKnobs }

    /// A metadata value as text: numbers in decimal, arrays as "[a, b]".
    public func metadataText(_ key: String) -> String? {
        file.metadata[key].map(Self.text)
    }

    static func text(_ v: MetadataValue) -> String {
        switch v {
        case .int(let x): return String(x)
        case .float(let x): return String(x)
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        case .ints(let a): return "[" + a.map { String($0) }.joined(separator: ", ") + "]"
        case .floats(let a): return "[" + a.map { String($0) }.joined(separator: ", ") + "]"
        case .strings(let a): return "[" + a.joined(separator: ", ") + "]"
        }
    }

    /// Makes a session: the per-caller state for whole-input runs and generation.
    public func makeSession(options: SessionOptions = SessionOptions()) throws(SwiftletError) -> Session {
        try Session(model: self, options: options)
    }

    /// Makes a stream: the per-caller state for frame-by-frame inference.
    public func makeStream(options: StreamOptions = StreamOptions()) throws(SwiftletError) -> Stream {
        try Stream(model: self, options: options)
    }
}
