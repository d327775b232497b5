#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

    /// Runs `body` with `observer` told of each tensor whose elements are decoded on this thread
    /// (`floats`, `int64s`, `complexParts`): how a conversion counts its progress. A thread-local
    /// rather than a `@TaskLocal`, which crashed outside any task in the statically linked tool.
    public static func withReadObserver<R>(
        _ observer: @escaping (CheckpointTensor) -> Void, _ body: () throws -> R
    ) rethrows -> R {
        try ReadObserverSlot.with(observer, body)
    }

    static var readObserver: ((CheckpointTensor) -> Void)? { ReadObserverSlot.current }

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

/// The read observer of the conversion running on this thread (a pthread key holding a retained box).
private enum ReadObserverSlot {
    final class Box {
        let observer: (CheckpointTensor) -> Void
        init(_ observer: @escaping (CheckpointTensor) -> Void) { self.observer = observer }
    }

    static let key: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    static var current: ((CheckpointTensor) -> Void)? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<Box>.fromOpaque(raw).takeUnretainedValue().observer
    }

    static func with<R>(_ observer: @escaping (CheckpointTensor) -> Void, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(key)
        let box = Unmanaged.passRetained(Box(observer))
        pthread_setspecific(key, box.toOpaque())
        defer {
            pthread_setspecific(key, previous)
            box.release()
        }
        return try body()
    }
}
