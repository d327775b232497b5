import Glibc
import SwiftletKernels

/// Picks the next token from logits: greedy, or temperature with optional top-k, driven by a caller
/// owned 64-bit generator state so that a seed reproduces a sequence.
public struct Sampler: Sendable, Equatable {
    /// 0 = greedy (argmax, lowest index on ties).
    public var temperature: Float
    /// 0 = whole vocabulary.
    public var topK: Int

    public init(temperature: Float = 0, topK: Int = 0) {
        self.temperature = temperature
        self.topK = topK
    }

    public func sample(_ logits: UnsafeBufferPointer<Float>, state: inout UInt64) throws(SwiftletError) -> Int32 {
        guard !logits.isEmpty, logits.count <= Int(Int32.max) else {
            throw .invalidArgument("sampling needs a non-empty vocabulary, got \(logits.count) logits")
        }
        guard temperature.isFinite, temperature >= 0 else {
            throw .invalidArgument("temperature must be a finite number ≥ 0, got \(temperature)")
        }
        guard topK >= 0 else { throw .invalidArgument("top-k must be ≥ 0, got \(topK)") }
        // NaN and +inf mean the model overflowed: an error, not a token. −inf marks a token that can
        // never be picked (a mask); at least one logit must be finite. (A +inf used to turn every
        // weight into NaN, and the sampler then returned the last candidate, even a −inf one.)
        var best = -1
        for i in 0..<logits.count {
            let v = logits[i]
            if v.isNaN || v == .infinity {
                throw .numeric("logit \(i) is \(v): the logits must be finite (−inf masks a token)")
            }
            if v > -.infinity && (best < 0 || v > logits[best]) { best = i }
        }
        guard best >= 0 else { throw .numeric("every logit is −inf: no token can be sampled") }
        if temperature == 0 || topK == 1 { return Int32(best) }

        // Candidates: the top k by logit (stable: ties keep the lower index first), masked ones out.
        var order = Array(0..<logits.count)
        if topK > 0 && topK < logits.count {
            order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            order.removeSubrange(topK...)
        }
        order.removeAll { logits[$0] == -.infinity }
        let maxLogit = Double(logits[best])
        var weights = order.map { exp((Double(logits[$0]) - maxLogit) / Double(temperature)) }
        let total = weights.reduce(0, +) // ≥ 1: the best candidate weighs exp(0)
        for i in weights.indices { weights[i] /= total }
        let u = Double(Self.next(&state) >> 11) / Double(1 << 53)
        var acc = 0.0
        for (i, w) in weights.enumerated() {
            acc += w
            if u < acc { return Int32(order[i]) }
        }
        // Rounding left u above the sum: the last candidate that has any weight.
        return Int32(order[weights.lastIndex { $0 > 0 } ?? 0])
    }

    /// The next number of the seeded sequence (SplitMix64, the same on every platform).
    static func next(_ state: inout UInt64) -> UInt64 {
        var generator = SplitMix64(seed: state)
        defer { state = generator.state }
        return generator.next()
    }
}
