/// The matrix layouts of `vit` files (`vit.weight_layout`, Formats/swl.md §6.1): the packing the
/// converter writes and `swiftlet quantize` repacks with, kept beside the schema so both use one packer.
extension ViTSchema {
    /// `w` (`[n, k]`, row-major) in the float32 panel layout (`weightLayout`):
    /// `out[(j·k + p)·16 + c] = w[(16j + c)·k + p]`, zero for rows past n.
    public static func panels(_ w: [Float], n: Int, k: Int) -> [Float] {
        var out = [Float](repeating: 0, count: (n + 15) / 16 * 16 * k)
        for r in 0..<n {
            let j = r / 16
            let c = r % 16
            for p in 0..<k { out[(j * k + p) * 16 + c] = w[r * k + p] }
        }
        return out
    }

    /// The `[n, k]` row-major matrix of float32 panels (`panels(_:n:k:)` undone; the zero rows past n
    /// dropped). Empty when `p.count` is not that of `panelShape(n:k:)`.
    public static func unpanel(_ p: [Float], n: Int, k: Int) -> [Float] {
        guard n >= 0, k >= 0, p.count == (n + 15) / 16 * 16 * k else { return [] }
        var out = [Float](repeating: 0, count: n * k)
        for r in 0..<n {
            let j = r / 16
            let c = r % 16
            for q in 0..<k { out[r * k + q] = p[(j * k + q) * 16 + c] }
        }
        return out
    }

    /// `w` (`[n, k]`, row-major) in the bf16 pair-panel layout (`weightLayoutBF16`; as floats, rounded
    /// when stored): `out[((j·⌈k/2⌉ + q)·16 + c)·2 + e] = w[(16j + c)·k + 2q + e]`, zero past n and k.
    public static func bf16Panels(_ w: [Float], n: Int, k: Int) -> [Float] {
        let steps = (k + 1) / 2
        var out = [Float](repeating: 0, count: (n + 15) / 16 * 16 * 2 * steps)
        for r in 0..<n {
            let j = r / 16
            let c = r % 16
            for p in 0..<k { out[((j * steps + p / 2) * 16 + c) * 2 + p % 2] = w[r * k + p] }
        }
        return out
    }

    /// `w` (`[n, k]`, row-major, finite) quantized per row (symmetric: `scale = max|w| / 127`, zero for
    /// a zero row; `q = round(w / scale)`, nearest even) in the int8 quad-panel layout
    /// (`weightLayoutQ8`): `out[((j·⌈k/4⌉ + g)·16 + c)·4 + e] = q[16j + c, 4g + e]`, zero past n and k.
    public static func q8Panels(_ w: [Float], n: Int, k: Int) -> (bytes: [UInt8], scales: [Float]) {
        let steps = (k + 3) / 4
        var out = [UInt8](repeating: 0, count: (n + 15) / 16 * 16 * 4 * steps)
        var scales = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var maxAbs: Float = 0
            for p in 0..<k { maxAbs = max(maxAbs, abs(w[r * k + p])) }
            let scale = maxAbs / 127
            scales[r] = scale
            guard scale > 0 else { continue }
            let j = r / 16
            let c = r % 16
            for p in 0..<k {
                let q = max(-127, min(127, (w[r * k + p] / scale).rounded(.toNearestOrEven)))
                out[((j * steps + p / 4) * 16 + c) * 4 + p % 4] = UInt8(bitPattern: Int8(q))
            }
        }
        return (out, scales)
    }

    /// Whether `name` is one of the matrices stored as panels in a compact file: the patch embedding,
    /// every block's qkv, proj, fc1 and fc2, and the classifier heads.
    public static func isPanelMatrix(_ name: String) -> Bool {
        if name == patchWeight || name == headWeight || name == distillationHeadWeight { return true }
        guard name.hasPrefix("blocks.") else { return false }
        let matrices: [BlockTensor] = [.qkvWeight, .projWeight, .fc1Weight, .fc2Weight]
        return matrices.contains { name.hasSuffix("." + $0.rawValue) }
    }

    /// The rows `n` of panel matrix `name` (`isPanelMatrix`), from the file's metadata.
    static func matrixRows(_ name: String, _ metadata: [String: MetadataValue]) -> Int? {
        func int(_ key: String) -> Int? {
            if case .int(let v)? = metadata[key], v > 0, v <= Int64(Int32.max) { return Int(v) }
            return nil
        }
        if name == headWeight || name == distillationHeadWeight { return int(Key.classes) }
        if name.hasSuffix("." + BlockTensor.qkvWeight.rawValue) { return int(Key.width).map { 3 * $0 } }
        if name.hasSuffix("." + BlockTensor.fc1Weight.rawValue) { return int(Key.mlpWidth) }
        return int(Key.width)
    }

    /// The columns `k` of panel matrix `name` (`isPanelMatrix`), from the file's metadata: C·p·p for the
    /// patch embedding, the MLP width for fc2, the embedding width otherwise.
    static func matrixCols(_ name: String, _ metadata: [String: MetadataValue]) -> Int? {
        func int(_ key: String) -> Int? {
            if case .int(let v)? = metadata[key], v > 0, v <= Int64(Int32.max) { return Int(v) }
            return nil
        }
        if name == patchWeight {
            guard let c = int(Key.channels), let p = int(Key.patchSize) else { return nil }
            let (pp, o1) = p.multipliedReportingOverflow(by: p)
            let (k, o2) = pp.multipliedReportingOverflow(by: c)
            return o1 || o2 || k > Int(Int32.max) ? nil : k
        }
        if name.hasSuffix("." + BlockTensor.fc2Weight.rawValue) { return int(Key.mlpWidth) }
        return int(Key.width)
    }

    /// The tensors that store float32 matrix `name` of an f32 file (`weightLayout`: float32 panels;
    /// the heads as `[classes, D]` rows) as `dtype` in the layout `convert --dtype` writes: bf16 pair
    /// panels, or int8 quad panels (u8) plus `scaleName(of:)` float32 scales: the converter's packing
    /// (`bf16Panels`, `q8Panels`) on the same float32 values, so the bytes are those of converting the
    /// checkpoint with `--dtype bf16|q8`.
    static func compactPanels(_ file: SWLFile, _ name: String, _ values: [Float], _ dtype: DType) throws(FormatError)
        -> [RelaidTensor]
    {
        guard let entry = file.entry(name) else {
            throw FormatError(.invalidArgument, "tensor '\(name)' is missing", tensor: name)
        }
        guard let n = matrixRows(name, file.metadata), let k = matrixCols(name, file.metadata) else {
            throw FormatError(
                .invalidArgument, "the vit file's metadata does not give the shape of '\(name)'", tensor: name)
        }
        // The stored shape must be the metadata's [n, k] (as panels or as rows) and hold exactly those
        // values, before anything of size n or k is allocated.
        let w: [Float]
        if entry.shape == panelShape(n: n, k: k), values.count == entry.rawSize / 4,
            values.count == (n + 15) / 16 * 16 * k
        {
            w = unpanel(values, n: n, k: k)
        } else if entry.shape == [n, k], values.count == n * k {
            w = values
        } else {
            throw FormatError(
                .invalidArgument,
                "tensor '\(name)' has shape \(entry.shape), neither float32 panels \(panelShape(n: n, k: k)) nor [\(n), \(k)] rows as the metadata gives",
                tensor: name)
        }
        switch dtype {
        case .bf16:
            return [
                RelaidTensor(
                    name: name, dtype: .bf16, shape: bf16PanelShape(n: n, k: k),
                    bytes: Quantize.bf16Bytes(bf16Panels(w, n: n, k: k)))
            ]
        case .q8Row:
            let (bytes, scales) = q8Panels(w, n: n, k: k)
            return [
                RelaidTensor(name: name, dtype: .u8, shape: q8PanelShape(n: n, k: k), bytes: bytes),
                RelaidTensor(name: scaleName(of: name), dtype: .f32, shape: [n], bytes: Quantize.f32Bytes(scales)),
            ]
        default:
            throw FormatError(.invalidArgument, "vit matrices have no \(dtype.name) layout", tensor: name)
        }
    }
}
