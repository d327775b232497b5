import CSwiftletKernels

/// The instruction-set levels of the C kernels (`swk_cpu.h`). Every kernel runs at ``current``: the
/// best level this CPU has, capped per thread with ``withCap(_:_:)``, which is how tests and
/// benchmarks compare the code paths.
public enum KernelISA: Int32, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case portable = 0
    /// AVX2 + FMA + F16C.
    case avx2 = 1
    /// AVX-512F on top of AVX2.
    case avx512 = 2

    /// The best level this CPU runs.
    public static var detected: KernelISA { KernelISA(rawValue: swk_isa_detected()) ?? .portable }

    /// The level kernels called from this thread run at.
    public static var current: KernelISA { KernelISA(rawValue: swk_isa()) ?? .portable }

    /// The levels this CPU runs, lowest first.
    public static var available: [KernelISA] { allCases.filter { $0 <= detected } }

    /// Whether the int8 products use AVX-512 VNNI here (and the cap allows AVX-512).
    public static var hasVNNI: Bool { swk_gemm_q8_supported() != 0 }

    /// Runs `body` with this thread's kernels capped at `level`, then restores the cap. Kernels run by
    /// a pool's helper threads are not capped: compare paths without a pool.
    public static func withCap<T, E: Error>(_ level: KernelISA, _ body: () throws(E) -> T) throws(E) -> T {
        let before = current
        let uncapped = detected
        swk_isa_set_cap(level.rawValue)
        defer { swk_isa_set_cap(before == uncapped ? KernelISA.avx512.rawValue : before.rawValue) }
        return try body()
    }

    public static func < (a: KernelISA, b: KernelISA) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }
}
