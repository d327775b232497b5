import Glibc

/// The discrete Fourier transform of a real signal whose length is a power of two, in double
/// precision: a complex FFT of half the length (iterative radix-2) plus the usual split step.
/// Immutable after creation; `forward` takes caller-owned buffers and never allocates.
public struct RealFFT: Sendable {
    /// Number of real input samples.
    public let size: Int
    /// Number of output bins, `size / 2 + 1`.
    public var binCount: Int { size / 2 + 1 }
    /// Doubles of scratch `forward` needs.
    public var workCount: Int { size }

    private let half: Int
    private let bitReverse: [Int32]
    // e^(−2πi k / half) for k < half/2, the butterflies' twiddles.
    private let twiddleCos: [Double]
    private let twiddleSin: [Double]
    // e^(−2πi k / size) for k ≤ half, the split step's twiddles.
    private let splitCos: [Double]
    private let splitSin: [Double]

    /// `size` must be a power of two, at least 4.
    public init(size: Int) throws(KernelError) {
        guard size >= 4, size <= 1 << 24, size & (size - 1) == 0 else {
            throw .invalidShape("RealFFT: size must be a power of two between 4 and 2^24, got \(size)")
        }
        self.size = size
        half = size / 2
        var bits = 0
        while 1 << bits < half { bits += 1 }
        bitReverse = (0..<half).map { i in
            var r = 0
            for b in 0..<bits where i & (1 << b) != 0 { r |= 1 << (bits - 1 - b) }
            return Int32(r)
        }
        let h = half
        twiddleCos = (0..<max(h / 2, 1)).map { cos(2 * Double.pi * Double($0) / Double(h)) }
        twiddleSin = (0..<max(h / 2, 1)).map { -sin(2 * Double.pi * Double($0) / Double(h)) }
        splitCos = (0...h).map { cos(2 * Double.pi * Double($0) / Double(size)) }
        splitSin = (0...h).map { -sin(2 * Double.pi * Double($0) / Double(size)) }
    }

    /// Writes bins `0 ... size/2` of the DFT of `input[size]` to `real` and `imag`
    /// (`binCount` each). `work` holds `workCount` doubles.
    public func forward(
        _ input: UnsafePointer<Double>, real: UnsafeMutablePointer<Double>,
        imag: UnsafeMutablePointer<Double>, work: UnsafeMutablePointer<Double>
    ) {
        let h = half
        let re = work
        let im = work + h
        // Pack even samples as real parts and odd samples as imaginary parts, in bit-reversed order.
        bitReverse.withUnsafeBufferPointer { rev in
            for i in 0..<h {
                let j = Int(rev[i])
                re[j] = input[2 * i]
                im[j] = input[2 * i + 1]
            }
        }
        twiddleCos.withUnsafeBufferPointer { tc in
            twiddleSin.withUnsafeBufferPointer { ts in
                var length = 2
                while length <= h {
                    let halfLength = length / 2
                    let stride = h / length
                    var start = 0
                    while start < h {
                        for k in 0..<halfLength {
                            let wr = tc[k * stride]
                            let wi = ts[k * stride]
                            let a = start + k
                            let b = a + halfLength
                            let tr = re[b] * wr - im[b] * wi
                            let ti = re[b] * wi + im[b] * wr
                            re[b] = re[a] - tr
                            im[b] = im[a] - ti
                            re[a] += tr
                            im[a] += ti
                        }
                        start += length
                    }
                    length *= 2
                }
            }
        }
        // Split the half-length transform Z into the real transform X:
        // X[k] = E[k] + e^(−2πik/N)·O[k], E = (Z[k] + conj Z[h−k]) / 2, O = (Z[k] − conj Z[h−k]) / 2i.
        real[0] = re[0] + im[0]
        imag[0] = 0
        real[h] = re[0] - im[0]
        imag[h] = 0
        splitCos.withUnsafeBufferPointer { sc in
            splitSin.withUnsafeBufferPointer { ss in
                for k in 1..<h {
                    let a = re[k]
                    let b = im[k]
                    let c = re[h - k]
                    let d = im[h - k]
                    let er = 0.5 * (a + c)
                    let ei = 0.5 * (b - d)
                    let or = 0.5 * (b + d)
                    let oi = -0.5 * (a - c)
                    let wr = sc[k]
                    let wi = ss[k]
                    real[k] = er + wr * or - wi * oi
                    imag[k] = ei + wr * oi + wi * or
                }
            }
        }
    }
}
