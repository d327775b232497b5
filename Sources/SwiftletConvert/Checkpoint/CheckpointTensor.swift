/// One tensor of a checkpoint: its name in the state dict, dtype, shape and contiguous C-order
/// little-endian bytes.
public struct CheckpointTensor: Sendable {
    public let name: String
    public let dtype: TensorDType
    public let shape: [Int]
    /// Contiguous C-order little-endian element bytes (`elementCount * dtype.byteSize` of them).
    public let bytes: [UInt8]

    /// Checks that `bytes` holds exactly the elements `shape` calls for.
    public init(name: String, dtype: TensorDType, shape: [Int], bytes: [UInt8]) throws {
        try CheckpointNumerics.checkByteCount(
            shape, of: dtype, elementSize: dtype.byteSize, actual: bytes.count, context: "tensor '\(name)'")
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// Number of elements (product of `shape`; 1 for a scalar).
    public var elementCount: Int { bytes.count / dtype.byteSize }

    /// Told of each tensor whose elements are decoded (`floats`, `int64s`, `complexParts`), within
    /// `$readObserver.withValue`: how a conversion counts its progress.
    @TaskLocal public static var readObserver: (@Sendable (CheckpointTensor) -> Void)? = nil

    /// The elements as Float: f32 as-is; f64, f16, bf16, integers and bool converted (f64 and
    /// large integers round to the nearest Float). Complex tensors throw: use `complexParts()`.
    public func floats() throws -> [Float] {
        Self.readObserver?(self)
        let n = elementCount
        switch dtype {
        case .f32:
            return decode(n) { raw, i in Float(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt32.self)) }
        case .f64:
            return decode(n) { raw, i in Float(Double(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt64.self))) }
        case .f16:
            return decode(n) { raw, i in CheckpointNumerics.halfToFloat(CheckpointNumerics.loadLE(raw, i, UInt16.self))
            }
        case .bf16:
            return decode(n) { raw, i in Float(bitPattern: UInt32(CheckpointNumerics.loadLE(raw, i, UInt16.self)) << 16)
            }
        case .i64:
            return decode(n) { raw, i in Float(Int64(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt64.self))) }
        case .i32:
            return decode(n) { raw, i in Float(Int32(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt32.self))) }
        case .i16:
            return decode(n) { raw, i in Float(Int16(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt16.self))) }
        case .i8:
            return decode(n) { raw, i in Float(Int8(bitPattern: raw[i])) }
        case .u8:
            return decode(n) { raw, i in Float(raw[i]) }
        case .bool:
            return decode(n) { raw, i in raw[i] != 0 ? 1 : 0 }
        case .complex64:
            throw CheckpointError(
                "tensor '\(name)' is complex64 and has no Float view; use complexParts()")
        }
    }

    /// Real and imaginary parts of a complex64 tensor (interleaved re, im pairs of Float).
    public func complexParts() throws -> (real: [Float], imag: [Float]) {
        Self.readObserver?(self)
        guard dtype == .complex64 else {
            throw CheckpointError("tensor '\(name)' is \(dtype), not complex64")
        }
        let n = elementCount
        let real = decode(n) { raw, i in Float(bitPattern: CheckpointNumerics.loadLE(raw, 2 * i, UInt32.self)) }
        let imag = decode(n) { raw, i in Float(bitPattern: CheckpointNumerics.loadLE(raw, 2 * i + 1, UInt32.self)) }
        return (real, imag)
    }

    /// The elements as Int64: integer and bool tensors only (floats throw rather than truncate).
    public func int64s() throws -> [Int64] {
        Self.readObserver?(self)
        let n = elementCount
        switch dtype {
        case .i64:
            return decode(n) { raw, i in Int64(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt64.self)) }
        case .i32:
            return decode(n) { raw, i in Int64(Int32(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt32.self))) }
        case .i16:
            return decode(n) { raw, i in Int64(Int16(bitPattern: CheckpointNumerics.loadLE(raw, i, UInt16.self))) }
        case .i8:
            return decode(n) { raw, i in Int64(Int8(bitPattern: raw[i])) }
        case .u8:
            return decode(n) { raw, i in Int64(raw[i]) }
        case .bool:
            return decode(n) { raw, i in raw[i] != 0 ? 1 : 0 }
        default:
            throw CheckpointError("tensor '\(name)' is \(dtype), not an integer tensor")
        }
    }

    private func decode<T>(_ n: Int, _ element: (UnsafeRawBufferPointer, Int) -> T) -> [T] {
        bytes.withUnsafeBytes { raw in
            var out = [T]()
            out.reserveCapacity(n)
            for i in 0..<n { out.append(element(raw, i)) }
            return out
        }
    }
}
