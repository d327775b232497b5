import Foundation

/// A NumPy `.npy` array (format versions 1.0–3.0), little-endian, C order.
public struct NPYArray: Sendable {
    /// Element types this reader handles (`<f4 <f8 <i4 <i8 <i2 |u1 |b1 <f2`).
    public enum DType: String, Sendable, CaseIterable {
        case f32, f64, i32, i64, i16, u8, bool, f16

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .i16, .f16: return 2
            case .u8, .bool: return 1
            }
        }

        /// The numpy `descr` string.
        public var descr: String {
            switch self {
            case .f32: return "<f4"
            case .f64: return "<f8"
            case .i32: return "<i4"
            case .i64: return "<i8"
            case .i16: return "<i2"
            case .u8: return "|u1"
            case .bool: return "|b1"
            case .f16: return "<f2"
            }
        }

        init?(descr: String) {
            switch descr {
            case "<f4": self = .f32
            case "<f8": self = .f64
            case "<i4": self = .i32
            case "<i8": self = .i64
            case "<i2": self = .i16
            case "|u1", "<u1": self = .u8
            case "|b1", "<b1": self = .bool
            case "<f2": self = .f16
            default: return nil
            }
        }
    }

    public let dtype: DType
    public let shape: [Int]
    /// C-order little-endian element bytes.
    public let bytes: [UInt8]

    /// Number of elements (1 for a 0-d array).
    public var elementCount: Int { bytes.count / dtype.byteSize }

    /// An array of any supported dtype; `bytes` must hold exactly `shape`'s elements.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        try CheckpointNumerics.checkByteCount(
            shape, of: dtype, elementSize: dtype.byteSize, actual: bytes.count, context: "npy")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 array; `floats.count` must equal the product of `shape`.
    public init(floats: [Float], shape: [Int]) throws {
        var bytes = [UInt8]()
        bytes.reserveCapacity(floats.count * 4)
        for value in floats { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        try self.init(dtype: .f32, shape: shape, bytes: bytes)
    }

    /// An int32 array; `int32s.count` must equal the product of `shape`.
    public init(int32s: [Int32], shape: [Int]) throws {
        var bytes = [UInt8]()
        bytes.reserveCapacity(int32s.count * 4)
        for value in int32s { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        try self.init(dtype: .i32, shape: shape, bytes: bytes)
    }

    /// Reads the `.npy` file at `path`.
    public init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CheckpointError("cannot read '\(path)': \(error.localizedDescription)")
        }
        do {
            try self.init(fileBytes: [UInt8](data))
        } catch let failure as CheckpointError {
            throw CheckpointError("\(path): \(failure.message)")
        }
    }

    /// Parses the bytes of a whole `.npy` file.
    public init(fileBytes: [UInt8]) throws {
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard fileBytes.count >= 10, Array(fileBytes[0..<6]) == magic else {
            if fileBytes.starts(with: Array("version https://git-lfs".utf8)) {
                throw CheckpointError("npy: this is a Git LFS pointer file, not the array itself")
            }
            throw CheckpointError("npy: missing the \\x93NUMPY magic (not a .npy file)")
        }
        let major = fileBytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(fileBytes[8]) | Int(fileBytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard fileBytes.count >= 12 else { throw CheckpointError("npy: truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(fileBytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw CheckpointError("npy: format version \(major).\(fileBytes[7]) is not supported (1–3)")
        }
        guard headerLength <= fileBytes.count - headerStart else {
            throw CheckpointError("npy: header length \(headerLength) runs past the end of the file")
        }
        let headerBytes = fileBytes[headerStart..<headerStart + headerLength]
        // Versions 1 and 2 are Latin-1, 3 is UTF-8; the keys and values used here are ASCII.
        guard let header = String(validating: Array(headerBytes), as: UTF8.self) else {
            throw CheckpointError("npy: header is not valid text")
        }
        let fields = try NPYHeader.parse(header)
        guard let descr = fields.descr else { throw CheckpointError("npy: header lacks 'descr'") }
        guard let dtype = DType(descr: descr) else {
            throw CheckpointError(
                "npy: dtype '\(descr)' is not supported (supported: "
                    + DType.allCases.map(\.descr).joined(separator: " ") + ")")
        }
        guard let fortran = fields.fortranOrder else {
            throw CheckpointError("npy: header lacks 'fortran_order'")
        }
        guard !fortran else {
            throw CheckpointError(
                "npy: the array is in Fortran order; only C order is supported "
                    + "(save np.ascontiguousarray(a) instead)")
        }
        guard let shape = fields.shape else { throw CheckpointError("npy: header lacks 'shape'") }
        guard let size = CheckpointNumerics.byteCount(shape, elementSize: dtype.byteSize) else {
            throw CheckpointError("npy: shape \(shape) overflows")
        }
        let dataStart = headerStart + headerLength
        guard fileBytes.count - dataStart == size else {
            throw CheckpointError(
                "npy: shape \(shape) of \(descr) needs \(size) data bytes, the file has "
                    + "\(fileBytes.count - dataStart)" + (fileBytes.count - dataStart < size ? " (truncated)" : ""))
        }
        try self.init(dtype: dtype, shape: shape, bytes: Array(fileBytes[dataStart...]))
    }

    /// The whole `.npy` file (version 1.0, or 2.0 if the header needs it), header padded to 64.
    public func fileBytes() -> [UInt8] {
        let dims = shape.map(String.init)
        let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let version: UInt8 = header.utf8.count + 64 > 0xFFFF ? 2 : 1
        let prefix = version == 1 ? 10 : 12
        let padding = (64 - (prefix + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        let length = header.utf8.count
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [version, 0]
        if version == 1 {
            out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        } else {
            out += (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) }
        }
        out += Array(header.utf8)
        out += bytes
        return out
    }

    /// Writes the array as a `.npy` file.
    public func write(to path: String) throws {
        do {
            try Data(fileBytes()).write(to: URL(fileURLWithPath: path), options: [.atomic])
        } catch {
            throw CheckpointError("cannot write '\(path)': \(error.localizedDescription)")
        }
    }

    /// The elements as Float (f32 as-is; f64, f16, integers and bool converted).
    public func floats() throws -> [Float] {
        try asTensor().floats()
    }

    /// The elements as Int32: integer and bool arrays only; int64 values must fit in 32 bits.
    public func int32s() throws -> [Int32] {
        guard dtype != .f32 && dtype != .f64 && dtype != .f16 else {
            throw CheckpointError("npy: array is \(dtype), not an integer array")
        }
        return try asTensor().int64s().map { value in
            guard let narrow = Int32(exactly: value) else {
                throw CheckpointError("npy: value \(value) does not fit in Int32")
            }
            return narrow
        }
    }

    private func asTensor() throws -> CheckpointTensor {
        let tensorType: TensorDType
        switch dtype {
        case .f32: tensorType = .f32
        case .f64: tensorType = .f64
        case .f16: tensorType = .f16
        case .i32: tensorType = .i32
        case .i64: tensorType = .i64
        case .i16: tensorType = .i16
        case .u8: tensorType = .u8
        case .bool: tensorType = .bool
        }
        return try CheckpointTensor(name: "npy", dtype: tensorType, shape: shape, bytes: bytes)
    }
}

/// The `.npy` header: a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
enum NPYHeader {
    struct Fields {
        var descr: String?
        var fortranOrder: Bool?
        var shape: [Int]?
    }

    static func parse(_ text: String) throws -> Fields {
        var scanner = Scanner(Array(text.utf8))
        var fields = Fields()
        scanner.skipSpace()
        try scanner.expect("{")
        while true {
            scanner.skipSpace()
            if scanner.consume("}") { break }
            let key = try scanner.quoted()
            scanner.skipSpace()
            try scanner.expect(":")
            scanner.skipSpace()
            switch key {
            case "descr":
                guard scanner.peek == UInt8(ascii: "'") || scanner.peek == UInt8(ascii: "\"") else {
                    throw CheckpointError("npy: structured dtypes are not supported")
                }
                fields.descr = try scanner.quoted()
            case "fortran_order":
                if scanner.consume("True") {
                    fields.fortranOrder = true
                } else if scanner.consume("False") {
                    fields.fortranOrder = false
                } else {
                    throw CheckpointError("npy: 'fortran_order' is not True or False")
                }
            case "shape":
                fields.shape = try scanner.intTuple()
            default:
                throw CheckpointError("npy: unexpected header key '\(key)'")
            }
            scanner.skipSpace()
            if scanner.consume(",") { continue }
            scanner.skipSpace()
            try scanner.expect("}")
            break
        }
        scanner.skipSpace()
        guard scanner.atEnd else { throw CheckpointError("npy: unexpected text after the header dict") }
        return fields
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }
        var atEnd: Bool { position >= bytes.count }

        mutating func skipSpace() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D { position += 1 }
        }

        mutating func consume(_ literal: String) -> Bool {
            let token = Array(literal.utf8)
            guard bytes.count - position >= token.count,
                Array(bytes[position..<position + token.count]) == token
            else { return false }
            position += token.count
            return true
        }

        mutating func expect(_ literal: String) throws {
            guard consume(literal) else {
                throw CheckpointError("npy: malformed header, expected '\(literal)' at byte \(position)")
            }
        }

        mutating func quoted() throws -> String {
            guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
                throw CheckpointError("npy: malformed header, expected a quoted string at \(position)")
            }
            position += 1
            let start = position
            while let c = peek, c != quote { position += 1 }
            guard !atEnd else { throw CheckpointError("npy: unterminated string in header") }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            position += 1
            return text
        }

        /// `()`, `(n,)`, `(a, b)`, `(a, b,)`; non-negative integers only, at most 32 dimensions.
        mutating func intTuple() throws -> [Int] {
            try expect("(")
            var values: [Int] = []
            while true {
                skipSpace()
                if consume(")") { return values }
                let start = position
                while let c = peek, c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { position += 1 }
                _ = consume("L") // Python 2 longs
                guard position > start,
                    let value = Int(
                        String(decoding: bytes[start..<position], as: UTF8.self)
                            .replacingOccurrences(of: "L", with: ""))
                else {
                    throw CheckpointError("npy: 'shape' must be a tuple of non-negative integers")
                }
                values.append(value)
                guard values.count <= 32 else { throw CheckpointError("npy: more than 32 dimensions") }
                skipSpace()
                if consume(",") { continue }
                skipSpace()
                try expect(")")
                return values
            }
        }
    }
}
