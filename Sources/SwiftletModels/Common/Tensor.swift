/// Element types that cross the public interfaces (values match SWL_DTYPE_* in swiftlet.h).
public enum ElementType: Int32, Sendable, CustomStringConvertible {
    case f32 = 1
    case i32 = 2
    case i64 = 3
    case i16 = 4
    case u8 = 5

    public var size: Int {
        switch self {
        case .f32, .i32: 4
        case .i64: 8
        case .i16: 2
        case .u8: 1
        }
    }

    public var description: String {
        switch self {
        case .f32: "f32"
        case .i32: "i32"
        case .i64: "i64"
        case .i16: "i16"
        case .u8: "u8"
        }
    }
}

/// Name, element type and shape of a model input or output; -1 in `shape` means any size.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: ElementType
    public let shape: [Int]
    /// What each dimension of any size stands for ("batch", "sequence", "frames", "tokens"), one
    /// entry per dimension; the entries of fixed dimensions are not used.
    public let dimensionNames: [String]

    /// `dimensionNames` may be left out (or shorter than `shape`): a first dimension of any size is
    /// then the batch, any other is named by its index ("dim2").
    public init(name: String, dtype: ElementType, shape: [Int], dimensionNames: [String] = []) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dimensionNames = shape.indices.map { i in
            i < dimensionNames.count ? dimensionNames[i] : i == 0 ? "batch" : "dim\(i)"
        }
    }

    /// The shape with each dimension of any size named, e.g. "[batch, sequence]" or
    /// "[batch, 3, 224, 224]".
    public var shapeDescription: String {
        "[" + shape.indices.map { shape[$0] < 0 ? dimensionNames[$0] : String(shape[$0]) }.joined(separator: ", ")
            + "]"
    }
}

/// A borrowed, read-only view of a caller's tensor, valid only during the call it is passed to.
public struct TensorView {
    public let dtype: ElementType
    public let shape: [Int]
    public let data: UnsafeRawPointer

    public init(dtype: ElementType, shape: [Int], data: UnsafeRawPointer) {
        self.dtype = dtype
        self.shape = shape
        self.data = data
    }

    public var count: Int { shape.reduce(1, *) }

    public var floats: UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: count)
    }

    public var int32s: UnsafeBufferPointer<Int32> {
        UnsafeBufferPointer(start: data.assumingMemoryBound(to: Int32.self), count: count)
    }
}

/// An owned float32 tensor: the outputs of a run.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match the value count")
        self.shape = shape
        self.values = values
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.values = [Float](repeating: 0, count: shape.reduce(1, *))
    }
}

extension Tensor {
    /// Throws `.numeric` if a value is NaN or infinite: inputs are checked to be finite, but a finite
    /// input can still overflow inside a model (a ViT image of 3e38 gave NaN logits), and such an
    /// output is an error, not a result.
    public func requireFinite(_ name: String) throws(ModelError) {
        if let i = values.withUnsafeBufferPointer({ firstNonFinite($0) }) {
            throw ModelError(
                .numeric,
                "output '\(name)' holds \(values[i]) at flat index \(i): the computation overflowed float32 (are the inputs scaled as the model expects?)"
            )
        }
    }
}

/// The index of the first NaN or ±inf, or nil. The scan is an integer max over the exponent bits,
/// which vectorises (a whole-sequence output can be 6 M logits), then the slow search runs only on
/// failure.
public func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> Int? {
    var largest: UInt32 = 0
    for v in values { largest = max(largest, v.bitPattern & 0x7FFF_FFFF) }
    guard largest >= 0x7F80_0000 else { return nil }
    return values.firstIndex { !$0.isFinite }
}

extension TensorView {
    /// Checks this input against `info`: dtype, rank, fixed dimensions; and that floats are finite.
    public func validate(against info: TensorInfo) throws(ModelError) {
        guard dtype == info.dtype else {
            throw ModelError(.shape, "input '\(info.name)' must be \(info.dtype), got \(dtype)")
        }
        guard shape.count == info.shape.count else {
            throw ModelError(
                .shape,
                "input '\(info.name)' must have \(info.shape.count) dimensions \(info.shapeDescription), got \(shape)"
            )
        }
        for (i, (got, want)) in zip(shape, info.shape).enumerated() {
            if got < 0 || (want >= 0 && got != want) {
                throw ModelError(
                    .shape,
                    "input '\(info.name)' dimension \(i)\(want < 0 ? " (\(info.dimensionNames[i]))" : "") must be \(want < 0 ? "positive" : String(want)) (shape \(info.shapeDescription)), got \(shape)"
                )
            }
        }
        if dtype == .f32 {
            for (i, v) in floats.enumerated() where !v.isFinite {
                throw ModelError(.numeric, "input '\(info.name)' holds \(v) at flat index \(i); inputs must be finite")
            }
        }
    }
}
