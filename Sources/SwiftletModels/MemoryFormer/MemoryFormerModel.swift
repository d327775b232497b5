import SwiftletFormat
import SwiftletKernels

/// MemoryFormer (C0-Design/MemoryFormer, GPT-NeoX based): a causal language model whose Q/K/V
/// projections and MLP are hashed table lookups (memory layers) instead of matrix products.
///
/// Per layer: `hn = RMSNorm(x)`; one hash of `hn` selects rows of the Q, K and V tables; partial
/// half-split rotary on Q and K; causal attention; no output projection; `a = ctx + x`;
/// MLP = memory layer (T·(L+2) outputs) → LayerNorm → memory layer with L+2-bit codes on
/// `RMSNorm(a)`; `x = mlp + a`. Then a final RMSNorm and an untied (or tied) LM head.
/// Tables are read in place from the mapped file in f32, f16, q8_row or q4_block; the embedding and the
/// LM head (the model's dense matrices) in place in f32, f16, bf16, q8_row or q4_block (`convert
/// --dtype`), never widened:
/// a decoded token reads the head once through the compact matrix-vector product. Loading does not touch them;
/// the first call of any session hashes each raw table in full against its checksum (what "verified
/// the first time it is used" means for a tensor read sparsely: about 0.6 s for 1.7 GB of mapped f32
/// tables on the benchmark machine, see Formats/swl.md §10) and then releases its pages, so that only
/// the rows in use stay resident.
public final class MemoryFormerModel: FamilyModel, @unchecked Sendable {
    public static let familyName = MemoryFormerSchema.family
    public var family: String { Self.familyName }

    struct Config {
        let hidden: Int
        let heads: Int
        let headDim: Int
        let layers: Int
        let vocab: Int
        let attentionTables: Int
        let attentionCodeLength: Int
        let mlpTables: Int
        let mlpCodeLength: Int
        let extraBits: Int
        let rotaryDims: Int
        let rotaryBase: Double
        let rmsEpsilon: Float
        let layerNormEpsilon: Float
        let context: Int

        /// Width of the MLP's middle (the first memory layer's output), T·(L + extra bits).
        var mlpWidth: Int { mlpTables * (mlpCodeLength + extraBits) }
    }

    struct Layer {
        let inputNorm: UnsafeBufferPointer<Float>
        let query: MemoryTables, key: MemoryTables, value: MemoryTables
        let queryBias: UnsafeBufferPointer<Float>
        let keyBias: UnsafeBufferPointer<Float>
        let valueBias: UnsafeBufferPointer<Float>
        let postNorm: UnsafeBufferPointer<Float>
        let mlpIn: MemoryTables
        let mlpInBias: UnsafeBufferPointer<Float>
        let mlpNormWeight: UnsafeBufferPointer<Float>
        let mlpNormBias: UnsafeBufferPointer<Float>
        let mlpOut: MemoryTables
        let mlpOutBias: UnsafeBufferPointer<Float>
    }

    let config: Config
    let layers: [Layer]
    let embedding: CompactMatrix // [vocab, hidden]
    let finalNorm: UnsafeBufferPointer<Float> // [hidden]
    let head: CompactMatrix // [vocab, hidden]; the embedding when tied
    /// Scratch floats a product of several rows with a compact head wants (0 for f32).
    let panelFloats: Int
    /// "f32", "f16", "bf16", "q8" (q8_row) or "q4" (q4_block): the storage of the embedding and head (joined by "+" if
    /// they differ).
    let weightStorage: String
    let rotary: HalfSplitRotary
    /// "f32", "f16", "q8" or "q4" (or a list if the tables were stored in several types).
    let tableStorage: String
    let file: SWLFile // keeps the mapped weights alive
    /// Raw tables whose checksum has not been checked yet (see `verifyTables`).
    private let unverifiedTables: Locked<[String]>

    public init(file: SWLFile) throws(ModelError) {
        self.file = file
        typealias S = MemoryFormerSchema
        let w = Weights(file)
        let cfg = try Config(w)
        let hidden = cfg.hidden
        let attentionTables = cfg.attentionTables
        let attentionCodeLength = cfg.attentionCodeLength
        let mlpTables = cfg.mlpTables
        let mlpCodeLength = cfg.mlpCodeLength
        let extraBits = cfg.extraBits
        let vocab = cfg.vocab
        config = cfg

        var storages: [String] = []
        var unverified: [String] = []
        func table(_ name: String, tables: Int, bits: Int, out: Int) throws(ModelError) -> MemoryTables {
            let t = try Self.loadTable(file, name, tables: tables, codeLength: bits, outFeatures: out)
            if !storages.contains(t.storage.description) { storages.append(t.storage.description) }
            if file.entry(name)?.codec == .raw && file.checksumState(name) != .verified { unverified.append(name) }
            return t
        }
        var built: [Layer] = []
        for i in 0..<cfg.layers {
            func l(_ t: S.LayerTensor) -> String { S.layer(i, t) }
            built.append(
                Layer(
                    inputNorm: try w.floats(l(.inputNorm), shape: [hidden]),
                    query: try table(l(.queryTables), tables: attentionTables, bits: attentionCodeLength, out: hidden),
                    key: try table(l(.keyTables), tables: attentionTables, bits: attentionCodeLength, out: hidden),
                    value: try table(l(.valueTables), tables: attentionTables, bits: attentionCodeLength, out: hidden),
                    queryBias: try w.floats(l(.queryBias), shape: [hidden]),
                    keyBias: try w.floats(l(.keyBias), shape: [hidden]),
                    valueBias: try w.floats(l(.valueBias), shape: [hidden]),
                    postNorm: try w.floats(l(.postAttentionNorm), shape: [hidden]),
                    mlpIn: try table(l(.mlpInTables), tables: mlpTables, bits: mlpCodeLength, out: cfg.mlpWidth),
                    mlpInBias: try w.floats(l(.mlpInBias), shape: [cfg.mlpWidth]),
                    mlpNormWeight: try w.floats(l(.mlpNormWeight), shape: [cfg.mlpWidth]),
                    mlpNormBias: try w.floats(l(.mlpNormBias), shape: [cfg.mlpWidth]),
                    mlpOut: try table(
                        l(.mlpOutTables), tables: mlpTables, bits: mlpCodeLength + extraBits, out: hidden),
                    mlpOutBias: try w.floats(l(.mlpOutBias), shape: [hidden])))
        }
        layers = built
        unverifiedTables = Locked(unverified.reversed())
        tableStorage = storages.joined(separator: "+")
        // The embedding and LM head, read in place in their stored types (f32, f16, bf16, q8_row or q4_block).
        let embedding = try w.compactMatrix(S.embedding, shape: [vocab, hidden], what: "the embedding", q4: true)
        let head =
            w.has(S.head)
            ? try w.compactMatrix(S.head, shape: [vocab, hidden], what: "the LM head", q4: true) : embedding
        self.embedding = embedding
        self.head = head
        finalNorm = try w.floats(S.finalNorm, shape: [hidden])
        panelFloats = head.format == .f32 ? 0 : Kernels.compactPanelFloats(cols: hidden)
        let names: [CompactFormat: String] = [.f32: "f32", .f16: "f16", .bf16: "bf16", .q8Row: "q8", .q4Block: "q4"]
        weightStorage = [embedding.format, head.format].reduce(into: [CompactFormat]()) {
            if !$0.contains($1) { $0.append($1) }
        }.compactMap { names[$0] }.joined(separator: "+")
        rotary = HalfSplitRotary(dims: cfg.rotaryDims, base: cfg.rotaryBase, positions: cfg.context)
    }

    /// A table tensor read in place: f32, f16, q8_row (int8 values, then one f32 scale per row) or
    /// q4_block (packed int4 rows, then the rows' f32 block scales).
    static func loadTable(
        _ file: SWLFile, _ name: String, tables: Int, codeLength: Int,
        outFeatures: Int
    ) throws(ModelError) -> MemoryTables {
        guard let entry = file.entry(name) else {
            throw ModelError(.format, "tensor '\(name)' is missing from the model file")
        }
        let rows = tables << codeLength
        guard entry.shape == [rows, outFeatures] else {
            throw ModelError(
                .format,
                "tensor '\(name)' has shape \(entry.shape), expected \([rows, outFeatures]) (\(tables) tables of 2^\(codeLength) rows)"
            )
        }
        // Tables are read sparsely and loading must not page them in: a raw table's checksum is
        // checked at the first call (`verifyTables`), a zstd one's when it is decoded here.
        let raw: UnsafeRawBufferPointer
        do {
            raw = try file.rawBytes(name, verifyChecksum: entry.codec != .raw)
        } catch {
            throw ModelError(error)
        }
        guard let dtype = entry.dtype, [DType.f32, .f16, .q8Row, .q4Block].contains(dtype) else {
            throw ModelError(
                .unsupported,
                "table '\(name)' is stored as \(entry.dtypeName); memory tables must be f32, f16, q8_row or q4_block")
        }
        do throws(KernelError) {
            switch dtype {
            case .f16:
                return try .f16(raw, tables: tables, codeLength: codeLength, outFeatures: outFeatures)
            case .q8Row:
                let valueBytes = rows * outFeatures
                guard raw.count >= valueBytes else {
                    throw KernelError.invalidShape("\(raw.count) bytes for \(rows)×\(outFeatures) q8_row")
                }
                return try .q8Row(
                    values: UnsafeRawBufferPointer(rebasing: raw[0..<valueBytes]), rowStride: outFeatures,
                    scales: UnsafeRawBufferPointer(rebasing: raw[valueBytes...]), scaleStride: 4,
                    tables: tables, codeLength: codeLength, outFeatures: outFeatures)
            case .q4Block:
                let rowBytes = MemoryTables.q4RowBytes(outFeatures)
                let scaleBytes = 4 * MemoryTables.q4Blocks(outFeatures)
                let valueBytes = rows * rowBytes
                guard raw.count == valueBytes + rows * scaleBytes else {
                    throw KernelError.invalidShape("\(raw.count) bytes for \(rows)×\(outFeatures) q4_block")
                }
                return try .q4Block(
                    values: UnsafeRawBufferPointer(rebasing: raw[0..<valueBytes]), rowStride: rowBytes,
                    scales: UnsafeRawBufferPointer(rebasing: raw[valueBytes...]), scaleStride: scaleBytes,
                    tables: tables, codeLength: codeLength, outFeatures: outFeatures)
            default:
                return try .f32(raw, tables: tables, codeLength: codeLength, outFeatures: outFeatures)
            }
        } catch {
            throw ModelError(.format, "table '\(name)': \(error)")
        }
    }

    /// Checks every raw table against its checksum the first time the model is used (each call of a
    /// session starts here; after the first it only takes the lock). Hashing pages a table in, so its
    /// pages are released afterwards. A damaged table fails this call and every later one with a
    /// checksum error naming it, before the call changes anything. Follows the file's read options
    /// (verification off: nothing is hashed).
    func verifyTables() throws(ModelError) {
        try unverifiedTables.withLock { (names) throws(ModelError) in
            while let name = names.last {
                do throws(FormatError) { _ = try file.rawBytes(name) } catch { throw ModelError(error) }
                file.releasePages(name)
                names.removeLast()
            }
        }
    }

    public var inputs: [TensorInfo] {
        [TensorInfo(name: "input_ids", dtype: .i32, shape: [-1, -1], dimensionNames: ["batch", "sequence"])]
    }
    public var outputs: [TensorInfo] {
        [
            TensorInfo(
                name: "logits", dtype: .f32, shape: [-1, -1, config.vocab], dimensionNames: ["batch", "sequence"])
        ]
    }

    public var sessionKnobs: Set<BudgetKnob> { [.maxLatencyMs, .maxGFLOPs, .generationTokens] }

    public func makeRunner(context: ExecutionContext) throws(ModelError) -> any FamilyRunner {
        MemoryFormerRunner(model: self, context: context)
    }

    // MARK: cost

    /// Multiply-adds of the position-independent part of one token: the gathers (each gathered row
    /// costs `out` multiply-adds) and the LM head.
    var macsPerToken: Double {
        let c = config
        let perLayer = 3 * c.attentionTables * c.hidden + c.mlpTables * c.mlpWidth + c.mlpTables * c.hidden
        return Double(c.layers * perLayer + c.hidden * c.vocab)
    }

    /// GFLOP (a multiply-add counts 2) of `count` tokens at positions `start ..< start + count`:
    /// gathers, the LM head of `headRows` of them (all by default), and attention over
    /// `position + 1` keys (scores and weighted values).
    func gflops(tokens count: Int, start: Int, headRows: Int? = nil) -> Double {
        let c = config
        // Σ_{p=start}^{start+count−1} (p + 1)
        let keys = Double(count) * Double(2 * start + count + 1) / 2
        let attention = Double(c.layers) * 2 * Double(c.hidden) * keys
        let skippedHead = Double(count - min(headRows ?? count, count)) * Double(c.hidden * c.vocab)
        return 2 * (Double(count) * macsPerToken - skippedHead + attention) * 1e-9
    }
}
