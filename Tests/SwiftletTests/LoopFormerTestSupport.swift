import Foundation
import Swiftlet
import SwiftletConvert

/// The `loopformer-test` fixture: official LoopFormer GPT (C=32, 4 heads, 2 blocks, MLP 80, vocab 101,
/// block_size 32) with golden logits for five trajectories on input_ids [2, 11].
enum LoopFormerFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/loopformer-test").path
    static let tags = ["L1", "L2", "L3mixed", "L4", "L8"]
    static let vocab = 101
    static let blockSize = 32

    static func path(_ name: String) -> String { directory + "/" + name }

    /// The fixture's config.json as a dictionary.
    static func json() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path("config.json")))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// The constructor arguments (GPTConfig fields), optionally edited.
    static func config(_ edit: (inout [String: Any]) -> Void = { _ in }) throws -> ConstructorConfig {
        var values = try json()["constructor"] as? [String: Any] ?? [:]
        edit(&values)
        return ConstructorConfig(values: values, source: "loopformer-test config")
    }

    /// Step sizes of a fixture trajectory.
    static func steps(_ tag: String) throws -> [Double] {
        let all = try json()["trajectories"] as? [String: Any]
        let entry = all?[tag] as? [String: Any]
        return (entry?["steps"] as? [NSNumber])?.map(\.doubleValue) ?? []
    }

    static func convert(_ file: String, config: ConstructorConfig? = nil) throws -> [UInt8] {
        let make = { try convert(try CheckpointReader.read(path: path(file)), config: config) }
        return config == nil ? try FixtureCache.bytes("loopformer-test/\(file)", make) : try make()
    }

    static func convert(
        _ checkpoint: Checkpoint, config: ConstructorConfig? = nil,
        options: ConvertOptions = ConvertOptions()
    ) throws -> [UInt8] {
        try Converter.convertToBytes(
            LoopFormerConverter.self, checkpoint: checkpoint,
            config: config ?? self.config(), options: options)
    }

    static func model() throws -> Model {
        try Model(bytes: try convert("checkpoint.safetensors"))
    }

    /// input_ids [2, 11] as rows.
    static func ids() throws -> [[Int32]] {
        let a = try NPYArray(path: path("input_ids.npy"))
        let flat = try a.int32s()
        return (0..<a.shape[0]).map { Array(flat[($0 * a.shape[1])..<(($0 + 1) * a.shape[1])]) }
    }

    /// Golden logits [2, 11, 101], flat.
    static func gold(_ tag: String) throws -> [Float] {
        try NPYArray(path: path("logits_\(tag).npy")).floats()
    }
}

/// Largest |got − want| and whether every element is within 1e-4 abs + 1e-4 rel.
func loopFormerCompare<G: Collection<Float>, W: Collection<Float>>(_ got: G, _ want: W) -> (maxAbs: Float, ok: Bool) {
    guard got.count == want.count else { return (.infinity, false) }
    var worst: Float = 0
    var ok = true
    for (g, w) in zip(got, want) {
        let d = abs(g - w)
        if !(d <= 1e-4 + 1e-4 * abs(w)) { ok = false }
        worst = max(worst, d.isNaN ? .infinity : d)
    }
    return (worst, ok)
}

/// Runs `ids` (rows of equal length) through `session.run` and returns the logits and report.
func loopFormerRun(_ session: Session, _ ids: [[Int32]], budget: Budget) throws -> (logits: [Float], report: RunReport)
{
    let flat = ids.flatMap { $0 }
    let shape = [ids.count, ids.first?.count ?? 0]
    let report = try flat.withUnsafeBytes { raw in
        try session.run(views: [TensorView(dtype: .i32, shape: shape, data: raw.baseAddress!)], budget: budget)
    }
    return (try session.lastOutputs[0].values, report)
}
