import SwiftletFormat

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
