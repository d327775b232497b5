import SwiftletFormat

/// Every numeric `loopformer.*` key, range-checked in one place before any arithmetic uses it: a
/// crafted file (±2^63 sizes, NaN or 1e300 epsilons) is refused with the key and the allowed range.
struct LoopFormerMetadata {
    let contextLength: Int // block_size
    let vocab: Int
    let blockCount: Int // n_layer
    let heads: Int
    let width: Int // n_embd
    let hidden: Int // intermediate_dim
    let maxLoops: Int
    let bias: Bool
    let eps: Float
    let maxPeriod: Float

    init(_ w: Weights) throws(ModelError) {
        typealias K = LoopFormerSchema.Key
        let limit = 1 << 20
        contextLength = try w.int(K.blockSize, in: 1...limit)
        vocab = try w.int(K.vocabSize, in: 1...limit)
        blockCount = try w.int(K.layers, in: 1...1024)
        heads = try w.int(K.heads, in: 1...4096)
        width = try w.int(K.width, in: 1...65536)
        hidden = try w.int(K.mlpWidth, in: 1...limit)
        maxLoops = try w.int(K.maxLoops, in: 1...4096, default: 8)
        bias = try w.bool(K.bias, default: false)
        eps = Float(try w.double(K.rmsNormEpsilon, in: 0...1, default: Double(Float.ulpOfOne)))
        maxPeriod = Float(try w.double(K.maxPeriod, in: 1...1e30, default: 10_000))
        let features = try w.int(K.frequencyEmbeddingSize, in: 1...65536, default: LoopFormerModel.frequencyFeatures)
        guard features == LoopFormerModel.frequencyFeatures else {
            throw ModelError(
                .unsupported,
                "loopformer: frequency_embedding_size \(features) is not supported (the official models use 256)")
        }
        guard width % heads == 0 else {
            throw ModelError(.format, "loopformer: n_embd \(width) is not a multiple of n_head \(heads)")
        }
        // The largest weight matrices, so that every later size product fits.
        _ = try sizeProduct(vocab, width, 4, what: "the embedding's size")
        _ = try sizeProduct(4 * width, width, 4, what: "the adaLN matrix's size")
        _ = try sizeProduct(hidden, width, 4, what: "the MLP matrix's size")
    }
}
