import SwiftletFormat
import SwiftletKernels

extension MemoryFormerModel.Config {
    /// Every numeric `memoryformer.*` key, range-checked in one place before any arithmetic uses it,
    /// then the products that tie them together computed with overflow checks: a crafted file (±2^63
    /// tables, NaN epsilons) is refused with the key and the range instead of trapping.
    init(_ w: Weights) throws(ModelError) {
        typealias K = MemoryFormerSchema.Key
        let maxBits = MemoryTables.maxCodeLength
        hidden = try w.int(K.hidden, in: 1...65536)
        heads = try w.int(K.heads, in: 1...65536)
        layers = try w.int(K.layers, in: 1...4096)
        vocab = try w.int(K.vocab, in: 1...(1 << 24))
        attentionTables = try w.int(K.attentionTables, in: 1...65536)
        attentionCodeLength = try w.int(K.attentionCodeLength, in: 1...maxBits)
        mlpTables = try w.int(K.mlpTables, in: 1...65536)
        mlpCodeLength = try w.int(K.mlpCodeLength, in: 1...maxBits)
        extraBits = try w.int(K.extraBits, in: 0...maxBits)
        rotaryDims = try w.int(K.rotaryDims, in: 0...65536)
        context = try w.int(K.context, in: 1...(1 << 20))
        rmsEpsilon = Float(try w.double(K.rmsNormEpsilon, in: 0...1))
        layerNormEpsilon = Float(try w.double(K.mlpLayerNormEpsilon, in: 0...1))
        rotaryBase = try w.double(K.rotaryBase, in: 1e-6...1e12)
        headDim = hidden / heads

        let attentionWidth = try sizeProduct(
            attentionTables, attentionCodeLength, what: "attention_tables × attention_code_length")
        let mlpInWidth = try sizeProduct(mlpTables, mlpCodeLength, what: "mlp_tables × mlp_code_length")
        guard hidden % heads == 0, attentionWidth == hidden, mlpInWidth == hidden, mlpCodeLength + extraBits <= maxBits,
            rotaryDims <= headDim, rotaryDims % 2 == 0
        else {
            throw ModelError(
                .format,
                "memoryformer metadata is inconsistent (hidden \(hidden), heads \(heads), attention tables \(attentionTables)×\(attentionCodeLength) bits, MLP tables \(mlpTables)×\(mlpCodeLength)+\(extraBits) bits, rotary dims \(rotaryDims)): need hidden = tables × bits for both, code + extra bits ≤ \(maxBits), rotary dims even and ≤ the head size; convert the checkpoint again"
            )
        }
        // The bytes of the largest table (tables · 2^bits rows of float32), so that every later size
        // product of the tables fits.
        _ = try sizeProduct(attentionTables << attentionCodeLength, hidden, 4, what: "the attention tables' size")
        _ = try sizeProduct(mlpTables << mlpCodeLength, mlpWidth, 4, what: "the first MLP tables' size")
        _ = try sizeProduct(mlpTables << (mlpCodeLength + extraBits), hidden, 4, what: "the second MLP tables' size")
        _ = try sizeProduct(vocab, hidden, 4, what: "the embedding's size")
    }
}
