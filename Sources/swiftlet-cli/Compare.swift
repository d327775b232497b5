import ArgumentParser
import Foundation
import SwiftletConvert

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two .npy arrays (e.g. Swiftlet's output with a reference) within a tolerance.",
        discussion: """
            Prints the largest absolute difference and whether every element satisfies \
            |a − b| ≤ atol + rtol·|b|. Exits 0 when they agree, 1 when they do not (or the shapes \
            differ).

            Example:
              swiftlet compare logits.npy reference_logits.npy --atol 1e-4 --rtol 1e-4
            """)

    @Argument(help: "The array to check.") var actual: String
    @Argument(help: "The reference array.") var expected: String
    @Option(help: "Absolute tolerance.") var atol: Double = 1e-4
    @Option(help: "Relative tolerance.") var rtol: Double = 1e-4

    func run() throws {
        let a = try readNPY(actual)
        let b = try readNPY(expected)
        guard a.shape == b.shape else { failAndExit("shapes differ: \(a.shape) vs \(b.shape)") }
        let x: [Float]
        let y: [Float]
        do {
            x = try a.floats()
            y = try b.floats()
        } catch { failAndExit("\(error)") }
        let r = agreement(x, y, atol: atol, rtol: rtol)
        print(String(format: "max abs diff %.3g over %d values: %@", r.maxAbs, x.count, r.ok ? "agree" : "DIFFER"))
        if !r.ok { throw ExitCode(1) }
    }
}

/// Largest |a − b| and whether all satisfy |a − b| ≤ atol + rtol·|b| (NaN never agrees).
func agreement(_ a: [Float], _ b: [Float], atol: Double, rtol: Double) -> (maxAbs: Double, ok: Bool) {
    var maxAbs = 0.0
    var ok = a.count == b.count
    for (u, v) in zip(a, b) {
        let d = abs(Double(u) - Double(v))
        if !(d <= atol + rtol * abs(Double(v))) { ok = false }
        maxAbs = max(maxAbs, d.isNaN ? .infinity : d)
    }
    return (maxAbs, ok)
}
