/// Element types a checkpoint tensor can hold. Bytes are always little-endian.
public enum TensorDType: String, Sendable, CaseIterable {
    case f32, f64, f16, bf16, i64, i32, i16, i8, u8, bool, complex64

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64, .complex64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    /// The dtype named by a safetensors header (`"F32"`, `"BF16"`, `"C64"`, ...); nil if unsupported.
    public init?(safetensorsName: String) {
        switch safetensorsName {
        case "F32": self = .f32
        case "F64": self = .f64
        case "F16": self = .f16
        case "BF16": self = .bf16
        case "I64": self = .i64
        case "I32": self = .i32
        case "I16": self = .i16
        case "I8": self = .i8
        case "U8": self = .u8
        case "BOOL": self = .bool
        case "C64": self = .complex64
        default: return nil
        }
    }

    /// The safetensors spelling of this dtype.
    public var safetensorsName: String {
        switch self {
        case .f32: return "F32"
        case .f64: return "F64"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .i64: return "I64"
        case .i32: return "I32"
        case .i16: return "I16"
        case .i8: return "I8"
        case .u8: return "U8"
        case .bool: return "BOOL"
        case .complex64: return "C64"
        }
    }

    /// The dtype of a `torch.<X>Storage` class (as pickled in a persistent id); nil if unsupported.
    /// `UntypedStorage` is raw bytes, so it reads as `u8`.
    init?(torchStorageName: String) {
        switch torchStorageName {
        case "FloatStorage": self = .f32
        case "DoubleStorage": self = .f64
        case "HalfStorage": self = .f16
        case "BFloat16Storage": self = .bf16
        case "LongStorage": self = .i64
        case "IntStorage": self = .i32
        case "ShortStorage": self = .i16
        case "CharStorage": self = .i8
        case "ByteStorage", "UntypedStorage": self = .u8
        case "BoolStorage": self = .bool
        case "ComplexFloatStorage": self = .complex64
        default: return nil
        }
    }

    /// The dtype of a pickled `torch.<dtype>` object (`torch.float32`, `torch.long`, ...).
    init?(torchDTypeName: String) {
        switch torchDTypeName {
        case "float32", "float": self = .f32
        case "float64", "double": self = .f64
        case "float16", "half": self = .f16
        case "bfloat16": self = .bf16
        case "int64", "long": self = .i64
        case "int32", "int": self = .i32
        case "int16", "short": self = .i16
        case "int8": self = .i8
        case "uint8": self = .u8
        case "bool": self = .bool
        case "complex64", "cfloat": self = .complex64
        default: return nil
        }
    }
}
