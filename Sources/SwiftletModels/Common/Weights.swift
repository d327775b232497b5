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
