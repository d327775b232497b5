import SwiftletFormat
import SwiftletKernels

extension TestModel {
    /// The bytes of the test model's .swl file: deterministic weights from a fixed-seed generator.
    public static func fileBytes(
        layers: Int = 4, width: Int = 4, classes: Int = 3, vocab: Int = 6,
        context: Int = 16, labels: [String]? = nil
    ) throws(FormatError) -> [UInt8] {
        // Uniform in [-0.5, 0.5): enough variety to make every path matter.
        var generator = SplitMix64(seed: 0x5357_4C54_4553_5431)
        func next() -> Float { generator.float(-0.5, 0.5) }
        func tensor(_ count: Int) -> [UInt8] {
            Quantize.f32Bytes((0..<count).map { _ in next() })
        }
        var writer = SWLWriter()
        writer.setMetadata(GeneralSchema.Key.family, .string(familyName))
        writer.setMetadata(GeneralSchema.Key.name, .string("swiftlet-test"))
        if let labels { writer.setMetadata(GeneralSchema.Key.labels, .strings(labels)) }
        typealias S = TestSchema
        writer.setMetadata(S.Key.layers, .int(Int64(layers)))
        writer.setMetadata(S.Key.width, .int(Int64(width)))
        writer.setMetadata(S.Key.classes, .int(Int64(classes)))
        writer.setMetadata(S.Key.vocab, .int(Int64(vocab)))
        writer.setMetadata(S.Key.context, .int(Int64(context)))
        for i in 0..<layers {
            try writer.addTensor(
                name: S.layerWeight(i), dtype: .f32, shape: [width, width], bytes: tensor(width * width))
            try writer.addTensor(name: S.layerBias(i), dtype: .f32, shape: [width], bytes: tensor(width))
        }
        try writer.addTensor(name: S.headWeight, dtype: .f32, shape: [classes, width], bytes: tensor(classes * width))
        try writer.addTensor(name: S.headBias, dtype: .f32, shape: [classes], bytes: tensor(classes))
        try writer.addTensor(
            name: S.embedding, dtype: .f32, shape: [vocab, width], bytes: tensor(vocab * width), codec: .zstd,
            shuffle: true)
        try writer.addTensor(name: S.lmHead, dtype: .f32, shape: [vocab, width], bytes: tensor(vocab * width))
        return try writer.serialize()
    }
}
