import Glibc
import Testing

@testable import SwiftletKernels

@Suite struct NormalizationTests {
    private func referenceLayerNorm(
        _ x: [Float], rows: Int, cols: Int, weight: [Float]?, bias: [Float]?, eps: Double
    ) -> [Double] {
        var y = [Double](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(cols)
            for c in 0..<cols {
                y[r * cols + c] =
                    (row[c] - mean) / (variance + eps).squareRoot()
                    * Double(weight?[c] ?? 1) + Double(bias?[c] ?? 0)
            }
        }
        return y
    }

    @Test(arguments: [1, 7, 48, 61, 200])
    func layerNorm(cols: Int) {
        var rng = SeededRandom(seed: UInt64(cols))
        let rows = 3
        // An offset mean checks that the variance is computed around the mean.
        let x = Buffer(random: rows * cols, &rng, lo: 9, hi: 11)
        let w = Buffer(random: cols, &rng)
        let b = Buffer(random: cols, &rng)
        let y = Buffer(count: rows * cols, fill: .nan)
        for (weight, bias) in [(w, b), (w, nil), (nil, b), (nil, nil)] as [(Buffer?, Buffer?)] {
            Kernels.layerNorm(x.c, rows: rows, cols: cols, weight: weight?.c, bias: bias?.c, eps: 1e-6, into: y.p)
            let expected = referenceLayerNorm(
                x.array, rows: rows, cols: cols, weight: weight?.array, bias: bias?.array, eps: 1e-6)
            expectClose(y.array, expected, "layerNorm cols=\(cols)")
        }
        // In place.
        let expected = referenceLayerNorm(x.array, rows: rows, cols: cols, weight: w.array, bias: b.array, eps: 1e-5)
        Kernels.layerNorm(x.c, rows: rows, cols: cols, weight: w.c, bias: b.c, eps: 1e-5, into: x.p)
        expectClose(x.array, expected, "layerNorm in place")
    }

    @Test(arguments: [5, 16, 67])
    func rmsNorm(cols: Int) {
        var rng = SeededRandom(seed: 100 + UInt64(cols))
        let rows = 4
        let x = Buffer(random: rows * cols, &rng, lo: -0.01, hi: 0.01) // small values make eps matter
        let w = Buffer(random: cols, &rng)
        let eps = 1e-4
        for placement in [RMSNormEpsilon.insideSquareRoot, .addedToRMS] {
            for weight in [w, nil] {
                let y = Buffer(count: rows * cols, fill: .nan)
                Kernels.rmsNorm(
                    x.c, rows: rows, cols: cols, weight: weight?.c, eps: Float(eps), epsilon: placement, into: y.p)
                var expected = [Double](repeating: 0, count: rows * cols)
                for r in 0..<rows {
                    let row = (0..<cols).map { Double(x[r * cols + $0]) }
                    let ms = row.reduce(0) { $0 + $1 * $1 } / Double(cols)
                    let denom = placement == .insideSquareRoot ? (ms + eps).squareRoot() : ms.squareRoot() + eps
                    for c in 0..<cols { expected[r * cols + c] = row[c] / denom * Double(weight?[c] ?? 1) }
                }
                expectClose(y.array, expected, "rmsNorm \(placement) weight=\(weight != nil)")
            }
        }
        // The two placements differ visibly here, so the flag is really honoured.
        let a = Buffer(count: rows * cols)
        let b = Buffer(count: rows * cols)
        Kernels.rmsNorm(x.c, rows: rows, cols: cols, weight: nil, eps: Float(eps), into: a.p)
        Kernels.rmsNorm(x.c, rows: rows, cols: cols, weight: nil, eps: Float(eps), epsilon: .addedToRMS, into: b.p)
        #expect(relativeError(a.array, b.doubles) > 1e-3)
    }

}
