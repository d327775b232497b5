import CSwiftletKernels

/// The instruction-set levels of the C kernels (`swk_cpu.h`). Every kernel runs at ``current``: the
/// best level this CPU has, capped per thread with ``withCap(_:_:)``, which is how tests and
/// benchmarks compare the code paths. The levels come in two families, x86-64 (`avx2` < `avx512`) and
/// AArch64 (`neon` < `neonDotprod`), each above `portable`; a cap from the other family caps nothing.
public enum KernelISA: Int32, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case portable = 0
    /// AVX2 + FMA + F16C.
    case avx2 = 1
    /// AVX-512F on top of AVX2.
    case avx512 = 2
    /// AArch64 Advanced SIMD.
    case neon = 3
    /// NEON with the Armv8.2 dot product (SDOT).
    case neonDotprod = 4

    /// The best level this CPU runs.
    public static var detected: KernelISA { KernelISA(rawValue: swk_isa_detected()) ?? .portable }

    /// The level kernels called from this thread run at.
    public static var current: KernelISA { KernelISA(rawValue: swk_isa()) ?? .portable }

    /// The levels this CPU runs, lowest first: `portable` and those of its family up to ``detected``.
    public static var available: [KernelISA] {
        allCases.filter { $0 == .portable || ($0.family == detected.family && $0 <= detected) }
    }

    /// Whether several rows times an int8 matrix take the integer path here (and the cap allows it):
    /// AVX-512 VNNI, or NEON on AArch64 (SDOT where the CPU has the dot product).
    public static var hasVNNI: Bool { swk_gemm_q8_supported() != 0 }

    /// 0 for `portable`, 1 for x86-64's levels, 2 for AArch64's.
    private var family: Int {
        switch self {
        case .portable: return 0
        case .avx2, .avx512: return 1
        case .neon, .neonDotprod: return 2
        }
    }

    /// Runs `body` with this thread's kernels capped at `level`, then restores the cap. Kernels run by
    /// a pool's helper threads are not capped: compare paths without a pool.
    public static func withCap<T, E: Error>(_ level: KernelISA, _ body: () throws(E) -> T) throws(E) -> T {
        let before = current
        swk_isa_set_cap(level.rawValue)
        defer { swk_isa_set_cap(before.rawValue) } // a cap at the detected level is no cap
        return try body()
    }

    public static func < (a: KernelISA, b: KernelISA) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        case .neon: return "neon"
        case .neonDotprod: return "neon-dotprod"
        }
    }
}
