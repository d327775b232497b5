import SwiftletFormat
import SwiftletKernels

/// Typed access to a model file's tensors and metadata for family loaders, with errors that say which
/// tensor or key is wrong.
public struct Weights: @unchecked Sendable {
    public let file: SWLFile

    public init(_ file: SWLFile) {
        self.file = file
    }

    /// A float32 view of a tensor, checked against the expected shape.
    public func floats(_ name: String, shape: [Int]) throws(ModelError) -> UnsafeBufferPointer<Float> {
        guard let entry = file.entry(name) else {
            throw ModelError(.format, "tensor '\(name)' is missing from the model file")
        }
        guard entry.shape == shape else {
            throw ModelError(.format, "tensor '\(name)' has shape \(entry.shape), expected \(shape)")
        }
        do {
            return try file.floats(name)
        } catch {
            throw ModelError(error)
        }
    }

    public func has(_ name: String) -> Bool { file.entry(name) != nil }

    /// A weight matrix read in place in its stored type (f32, f16, bf16, or q8_row: int8 values, then
    /// one float32 scale per row), checked against the expected shape. A tensor of rank > 2 is the
    /// matrix `[product of all but the last dimension, last dimension]` (a convolution's taps × inputs
    /// as rows). Nothing is widened to float32; an f32 tensor is used in place where it is aligned
    /// (`SWLFile.floats`). `what` names the tensor's role in the refusal of another type (e.g. "the
    /// embedding and LM head"). `q4`: whether the caller reads q4_block too (packed int4 rows, then one
    /// float32 scale per block of 32: MemoryFormer's embedding and head; the other families' products
    /// have no int4 path).
    public func compactMatrix(
        _ name: String, shape: [Int], what: String = "a weight matrix", q4: Bool = false
    ) throws(ModelError) -> CompactMatrix {
        guard let entry = file.entry(name) else {
            throw ModelError(.format, "tensor '\(name)' is missing from the model file")
        }
        guard entry.shape == shape, !shape.isEmpty else {
            throw ModelError(.format, "tensor '\(name)' has shape \(entry.shape), expected \(shape)")
        }
        let cols = shape[shape.count - 1]
        let rows = try sizeProduct(shape.dropLast().map { $0 }, what: "tensor '\(name)' shape")
        let format: CompactFormat
        switch entry.dtype {
        case .f32?:
            return CompactMatrix(rows: rows, cols: cols, floats: try floats(name, shape: shape).baseAddress!)
        case .f16?: format = .f16
        case .bf16?: format = .bf16
        case .q8Row?: format = .q8Row
        case .q4Block? where q4: format = .q4Block
        default:
            let types = q4 ? "f32, f16, bf16, q8_row or q4_block" : "f32, f16, bf16 or q8_row"
            throw ModelError(
                .unsupported,
                "tensor '\(name)' \(shape) is stored as \(entry.dtypeName); \(what) must be \(types) "
                    + "(convert the checkpoint again, or `swiftlet quantize` an f32 file, with --dtype f16|bf16|q8)")
        }
        let bytes: UnsafeRawBufferPointer
        do { bytes = try file.rawBytes(name) } catch { throw ModelError(error) }
        guard let m = CompactMatrix(format: format, rows: rows, cols: cols, bytes: bytes) else {
            let scales =
                switch format {
                case .q8Row: " plus \(rows) float32 row scales"
                case .q4Block: " (two per byte) plus \(rows * ((cols + 31) / 32)) float32 block scales"
                default: ""
                }
            throw ModelError(
                .format,
                "tensor '\(name)' (\(entry.dtypeName) \(shape)) has \(bytes.count) bytes, which does not match its "
                    + "shape: expected \(rows) × \(cols) \(entry.dtypeName) elements\(scales); the file is damaged or "
                    + "was written by another tool, convert it again")
        }
        return m
    }

    /// An identity of the weights: XXH64 of `general.tensor_hash` (the writer's hash of every tensor's
    /// name, type, shape and bytes), so that a saved stream state can be bound to its model.
    public var fingerprint: UInt64 {
        if case .string(let s)? = file.metadata["general.tensor_hash"] { return xxh64(Array(s.utf8)) }
        return 0
    }

    public func shape(_ name: String) -> [Int]? { file.entry(name)?.shape }

    public func int(_ key: String) throws(ModelError) -> Int {
        guard case .int(let v)? = file.metadata[key] else {
            throw ModelError(.format, "metadata '\(key)' (an integer) is missing from the model file")
        }
        return Int(v)
    }

    public func int(_ key: String, default value: Int) throws(ModelError) -> Int {
        file.metadata[key] == nil ? value : try int(key)
    }

    public func double(_ key: String) throws(ModelError) -> Double {
        switch file.metadata[key] {
        case .float(let v)?: return v
        case .int(let v)?: return Double(v)
        default: throw ModelError(.format, "metadata '\(key)' (a number) is missing from the model file")
        }
    }

    public func double(_ key: String, default value: Double) throws(ModelError) -> Double {
        file.metadata[key] == nil ? value : try double(key)
    }

    /// An integer that must lie in `range` (`value` when the key is absent): a family checks every
    /// numeric key this way before any arithmetic uses it, so a crafted file is refused with the key
    /// and the range instead of reaching an overflow or a conversion that traps.
    public func int(_ key: String, in range: ClosedRange<Int>, default value: Int? = nil) throws(ModelError) -> Int {
        let v = if let value { try int(key, default: value) } else { try int(key) }
        guard range.contains(v) else {
            throw ModelError(
                .format, "metadata '\(key)' must be an integer in \(range.lowerBound)...\(range.upperBound), got \(v)")
        }
        return v
    }

    /// A finite number that must lie in `range` (`value` when the key is absent); NaN and ±inf are
    /// refused like any value outside the range.
    public func double(_ key: String, in range: ClosedRange<Double>, default value: Double? = nil) throws(ModelError)
        -> Double
    {
        let v = if let value { try double(key, default: value) } else { try double(key) }
        guard v.isFinite, range.contains(v) else {
            throw ModelError(
                .format,
                "metadata '\(key)' must be a finite number in \(range.lowerBound)...\(range.upperBound), got \(v)")
        }
        return v
    }

    public func string(_ key: String) throws(ModelError) -> String {
        guard case .string(let v)? = file.metadata[key] else {
            throw ModelError(.format, "metadata '\(key)' (a string) is missing from the model file")
        }
        return v
    }

    public func bool(_ key: String, default value: Bool) throws(ModelError) -> Bool {
        switch file.metadata[key] {
        case nil: return value
        case .bool(let v)?: return v
        case .int(let v)?: return v != 0
        default: throw ModelError(.format, "metadata '\(key)' must be a boolean")
        }
    }
}

/// The product of sizes that come from a model file, overflow-checked: a format error naming `what`
/// instead of a trap when a crafted file makes it wrap.
public func sizeProduct(_ factors: Int..., what: String) throws(ModelError) -> Int {
    try sizeProduct(factors, what: what)
}

/// ``sizeProduct(_:what:)`` of an array of sizes.
public func sizeProduct(_ factors: [Int], what: String) throws(ModelError) -> Int {
    var n = 1
    for f in factors {
        let (p, o) = n.multipliedReportingOverflow(by: f)
        guard !o, f >= 0 else {
            throw ModelError(.format, "\(what) overflows (\(factors.map(String.init).joined(separator: " × ")))")
        }
        n = p
    }
    return n
}
