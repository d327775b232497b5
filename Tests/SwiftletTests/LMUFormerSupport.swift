import Foundation
import Swiftlet
import SwiftletConvert
import Testing

/// The LMUFormer fixtures (`lmu-test`, `slmu-ms-test`): converted model bytes, inputs and the
/// official outputs.
struct LMUFixture {
    let name: String
    let bytes: [UInt8]
    let input: [Float] // [B, T, F]
    let batch: Int, frames: Int, features: Int
    let logits: [Float] // [B, K]
    let perStep: [Float] // [B, T, K]
    let classes: Int
    let config: [String: Any]

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures").standardized.path

    static func directory(_ name: String) -> String { root + "/" + name }

    /// Converts the safetensors checkpoint (the .pth gives the same bytes; a test checks that).
    static func convert(_ name: String, checkpoint file: String = "checkpoint.safetensors") throws -> [UInt8] {
        try FixtureCache.bytes("\(name)/\(file)") {
            let dir = directory(name)
            let config = try ConstructorConfig(path: dir + "/config.json")
            let checkpoint = try CheckpointReader.read(path: dir + "/" + file)
            return try Converter.convertToBytes(
                LMUFormerConverter.self, checkpoint: checkpoint, config: config, options: ConvertOptions())
        }
    }

    static func load(_ name: String) throws -> LMUFixture {
        let dir = directory(name)
        let input = try NPYArray(path: dir + "/input.npy")
        let logits = try NPYArray(path: dir + "/logits.npy")
        let steps = try NPYArray(path: dir + "/logits_per_step.npy")
        let json =
            try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json")))
            as! [String: Any]
        return LMUFixture(
            name: name, bytes: try convert(name), input: try input.floats(), batch: input.shape[0],
            frames: input.shape[1], features: input.shape[2], logits: try logits.floats(),
            perStep: try steps.floats(), classes: logits.shape[1], config: json)
    }

    /// Frames of clip `b`, rows `range`.
    func frames(_ b: Int, _ range: Range<Int>) -> [Float] {
        Array(input[((b * frames + range.lowerBound) * features)..<((b * frames + range.upperBound) * features)])
    }

    /// Rows `range` of clip `b`'s expected per-step logits.
    func steps(_ b: Int, _ range: Range<Int>) -> [Float] {
        Array(perStep[((b * frames + range.lowerBound) * classes)..<((b * frames + range.upperBound) * classes)])
    }
}

/// Max |a − e|, and whether every element is within 1e-4 + 1e-4·|e|.
func lmuCompare(_ actual: [Float], _ expected: [Float]) -> (maxError: Float, ok: Bool) {
    guard actual.count == expected.count else { return (.infinity, false) }
    var worst: Float = 0
    var ok = true
    for (a, e) in zip(actual, expected) {
        let err = abs(a - e)
        worst = max(worst, err.isNaN ? .infinity : err)
        if !(err <= 1e-4 + 1e-4 * abs(e)) { ok = false }
    }
    return (worst, ok)
}

/// Streams clip `b` of a fixture `chunk` frames at a time, then flushes; returns every row and
/// checks that each push emitted exactly the rows its look-ahead allows.
func lmuStream(_ stream: Swiftlet.Stream, _ fx: LMUFixture, clip b: Int, chunk: Int) throws -> (
    rows: [Float], pushCountsOK: Bool
) {
    var rows: [Float] = []
    var pushed = 0
    var ok = true
    while pushed < fx.frames {
        let n = min(chunk, fx.frames - pushed)
        let out = try stream.push(fx.frames(b, pushed..<(pushed + n)))
        pushed += n
        rows += out.flatMap { $0 }
        // Row t is final once frame t + 5 is in.
        if rows.count / fx.classes != max(0, pushed - 5) { ok = false }
    }
    rows += try stream.flush().flatMap { $0 }
    return (rows, ok)
}
