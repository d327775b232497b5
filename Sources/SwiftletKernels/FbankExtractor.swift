import Glibc

/// Kaldi-compatible log-mel filterbank features (`torchaudio.compliance.kaldi.fbank` with no dither
/// and `snip_edges`), on a whole clip or incrementally: push samples in any pieces and get each frame
/// as soon as its last sample has arrived. Frame `i` covers samples `[i·shift, i·shift + length)`.
///
/// Per frame: subtract the frame's mean, preemphasis `x[j] − p·x[j−1]` (with `x[−1] = x[0]`), window,
/// zero-pad to the FFT size, power spectrum, mel filters, `ln(max(e, FLT_EPSILON))`. Arithmetic is in
/// double precision; features are float32. Samples are floats at the scale of `int16 / 32768`.
///
/// One extractor per stream; not thread-safe. After `init`, `push` and `reset` never allocate.
public final class FbankExtractor {
    public let options: FbankOptions
    /// Floats per output frame (`numMelBins`).
    public let binCount: Int
    /// Samples per frame and between frame starts.
    public let frameLength: Int
    public let frameShift: Int
    /// Frames produced since the last reset.
    public private(set) var framesProduced = 0

    private let fft: RealFFT
    private let banks: FbankMelBanks
    private let window: UnsafeMutablePointer<Double>
    // Samples of the frame being filled, `pending` of them; `skip` samples still to drop before the
    // next frame starts (only when the shift exceeds the frame length).
    private let buffer: UnsafeMutablePointer<Float>
    private var pending = 0
    private var skip = 0
    // Per-frame scratch: the padded frame, FFT work, spectrum, mel energies.
    private let frame: UnsafeMutablePointer<Double>
    private let work: UnsafeMutablePointer<Double>
    private let real: UnsafeMutablePointer<Double>
    private let imag: UnsafeMutablePointer<Double>
    private let energies: UnsafeMutablePointer<Double>

    public init(options: FbankOptions = .speechCommands) throws(KernelError) {
        try options.validate()
        self.options = options
        binCount = options.numMelBins
        frameLength = options.frameLength
        frameShift = options.frameShift
        fft = try RealFFT(size: options.fftSize)
        banks = try FbankMelBanks(options: options)
        let n = frameLength
        window = .allocate(capacity: n)
        for j in 0..<n {
            let a = 2 * Double.pi * Double(j) / Double(max(n - 1, 1))
            switch options.window {
            case .hanning: window[j] = 0.5 - 0.5 * cos(a)
            case .hamming: window[j] = 0.54 - 0.46 * cos(a)
            case .povey: window[j] = pow(0.5 - 0.5 * cos(a), 0.85)
            case .rectangular: window[j] = 1
            case .blackman: window[j] = 0.42 - 0.5 * cos(a) + 0.08 * cos(2 * a)
            }
        }
        buffer = .allocate(capacity: n)
        frame = .allocate(capacity: fft.size)
        work = .allocate(capacity: fft.workCount)
        real = .allocate(capacity: fft.binCount)
        imag = .allocate(capacity: fft.binCount)
        energies = .allocate(capacity: binCount)
    }

    deinit {
        window.deallocate()
        buffer.deallocate()
        frame.deallocate()
        work.deallocate()
        real.deallocate()
        imag.deallocate()
        energies.deallocate()
    }

    /// Forgets every pushed sample.
    public func reset() {
        pending = 0
        skip = 0
        framesProduced = 0
    }

    /// The most frames a push of `sampleCount` more samples can complete now.
    public func framesReady(afterPushing sampleCount: Int) -> Int {
        guard sampleCount > 0 else { return 0 }
        let usable = sampleCount - skip
        guard usable > 0, pending + usable >= frameLength else { return 0 }
        return 1 + (pending + usable - frameLength) / frameShift
    }

    /// Pushes samples; writes each completed frame (`binCount` floats) to `output` in order and
    /// returns how many. `output` must hold `framesReady(afterPushing: samples.count)` frames;
    /// otherwise nothing is consumed and the call throws. Samples must be finite.
    @discardableResult
    public func push(_ samples: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>)
        throws(KernelError) -> Int
    {
        try checkCapacity(samples.count, output.count)
        for v in samples where !v.isFinite {
            throw .invalidShape("fbank: samples must be finite, got \(v)")
        }
        guard let src = samples.baseAddress, let dst = output.baseAddress else { return 0 }
        return consume(samples.count, into: dst) { buffer, from, count in
            (buffer).update(from: src + from, count: count)
        }
    }

    /// Pushes 16-bit PCM samples, scaled by 1/32768 as `torchaudio.load` does.
    @discardableResult
    public func push(pcm samples: UnsafeBufferPointer<Int16>, into output: UnsafeMutableBufferPointer<Float>)
        throws(KernelError) -> Int
    {
        try checkCapacity(samples.count, output.count)
        guard let src = samples.baseAddress, let dst = output.baseAddress else { return 0 }
        return consume(samples.count, into: dst) { buffer, from, count in
            for i in 0..<count { buffer[i] = Float(src[from + i]) * (1 / 32768) }
        }
    }

    /// The features of a whole clip, `[frames, binCount]` row-major (no frame when the clip is shorter
    /// than one frame).
    public static func features(_ samples: UnsafeBufferPointer<Float>, options: FbankOptions = .speechCommands)
        throws(KernelError) -> (frames: Int, values: [Float])
    {
        try wholeClip(samples.count, options) { e, out throws(KernelError) in try e.push(samples, into: out) }
    }

    /// The features of whole clip of 16-bit PCM.
    public static func features(pcm samples: UnsafeBufferPointer<Int16>, options: FbankOptions = .speechCommands)
        throws(KernelError) -> (frames: Int, values: [Float])
    {
        try wholeClip(samples.count, options) { e, out throws(KernelError) in try e.push(pcm: samples, into: out) }
    }

    /// A fresh extractor fed `count` samples by `push` (one push of them all into room for every frame).
    private static func wholeClip(
        _ count: Int, _ options: FbankOptions,
        push: (FbankExtractor, UnsafeMutableBufferPointer<Float>) throws(KernelError) -> Int
    ) throws(KernelError) -> (frames: Int, values: [Float]) {
        let extractor = try FbankExtractor(options: options)
        let frames = extractor.framesReady(afterPushing: count)
        var values = [Float](repeating: 0, count: frames * extractor.binCount)
        let result: Result<Int, KernelError> = values.withUnsafeMutableBufferPointer { out in
            Result { () throws(KernelError) in try push(extractor, out) }
        }
        return (try result.get(), values)
    }

    // MARK: - State

    /// Bytes of ``saveState(into:)``.
    public var stateByteCount: Int { 4 * 4 + 8 + 4 * frameLength }

    private static let stateMagic: UInt32 = 0x4B42_4653 // "SFBK"

    /// Writes the extractor's state (the samples of the unfinished frame and the counters).
    public func saveState(into buffer: UnsafeMutableRawBufferPointer) throws(KernelError) {
        guard buffer.count >= stateByteCount else {
            throw .invalidShape("fbank: the state needs \(stateByteCount) bytes, the buffer has \(buffer.count)")
        }
        var o = 0
        func put<T>(_ v: T) {
            buffer.storeBytes(of: v, toByteOffset: o, as: T.self)
            o += MemoryLayout<T>.size
        }
        put(Self.stateMagic)
        put(UInt32(frameLength))
        put(UInt32(pending))
        put(UInt32(skip))
        put(UInt64(framesProduced))
        for i in 0..<frameLength { put(i < pending ? self.buffer[i] : 0) }
    }

    /// Restores a state written by ``saveState(into:)`` of an extractor with the same options.
    public func loadState(from buffer: UnsafeRawBufferPointer) throws(KernelError) {
        guard buffer.count >= stateByteCount else {
            throw .invalidShape("fbank: a saved state has \(stateByteCount) bytes, got \(buffer.count)")
        }
        var o = 0
        func get<T>(_: T.Type) -> T {
            defer { o += MemoryLayout<T>.size }
            return buffer.loadUnaligned(fromByteOffset: o, as: T.self)
        }
        let magic = get(UInt32.self)
        let length = get(UInt32.self)
        let newPending = Int(get(UInt32.self))
        let newSkip = Int(get(UInt32.self))
        let produced = get(UInt64.self)
        guard magic == Self.stateMagic, Int(length) == frameLength, newPending < frameLength,
            newSkip <= max(frameShift - frameLength, 0), produced <= 1 << 53
        else {
            throw .invalidShape("fbank: the saved state is damaged or from other options")
        }
        var values = [Float](repeating: 0, count: frameLength)
        for i in 0..<frameLength { values[i] = get(Float.self) }
        guard values.allSatisfy({ $0.isFinite }) else {
            throw .invalidShape("fbank: the saved state holds non-finite samples")
        }
        self.buffer.update(from: values, count: frameLength)
        pending = newPending
        skip = newSkip
        framesProduced = Int(produced)
    }

    // MARK: - Internals

    private func checkCapacity(_ samples: Int, _ capacity: Int) throws(KernelError) {
        let need = framesReady(afterPushing: samples) * binCount
        guard capacity >= need else {
            throw .invalidShape(
                "fbank: pushing \(samples) samples completes up to \(need / binCount) frames (\(need) floats); the output holds \(capacity)"
            )
        }
    }

    /// Feeds `count` samples through `copy(buffer, from, n)`, which writes samples `from..<from+n` of
    /// the caller's input to `buffer`.
    private func consume(
        _ count: Int, into output: UnsafeMutablePointer<Float>,
        _ copy: (UnsafeMutablePointer<Float>, Int, Int) -> Void
    ) -> Int {
        var used = 0
        var produced = 0
        while used < count {
            if skip > 0 {
                let n = min(skip, count - used)
                skip -= n
                used += n
                continue
            }
            let n = min(frameLength - pending, count - used)
            copy(buffer + pending, used, n)
            pending += n
            used += n
            if pending == frameLength {
                computeFrame(into: output + produced * binCount)
                produced += 1
                framesProduced += 1
                if frameShift < frameLength {
                    let keep = frameLength - frameShift
                    memmove(buffer, buffer + frameShift, keep * MemoryLayout<Float>.stride)
                    pending = keep
                } else {
                    pending = 0
                    skip = frameShift - frameLength
                }
            }
        }
        return produced
    }

    private func computeFrame(into out: UnsafeMutablePointer<Float>) {
        let n = frameLength
        var mean = 0.0
        for j in 0..<n {
            frame[j] = Double(buffer[j])
            mean += frame[j]
        }
        if options.removeDCOffset {
            mean /= Double(n)
            for j in 0..<n { frame[j] -= mean }
        }
        let p = options.preemphasis
        if p != 0 {
            var j = n - 1
            while j > 0 {
                frame[j] -= p * frame[j - 1]
                j -= 1
            }
            frame[0] -= p * frame[0]
        }
        for j in 0..<n { frame[j] *= window[j] }
        if fft.size > n { (frame + n).update(repeating: 0, count: fft.size - n) }
        fft.forward(frame, real: real, imag: imag, work: work)
        // The spectrum overwrites the frame buffer (it is no longer needed).
        let spectrum = frame
        for k in 0..<fft.binCount {
            let power = real[k] * real[k] + imag[k] * imag[k]
            spectrum[k] = options.usePower ? power : power.squareRoot()
        }
        banks.apply(spectrum, into: energies)
        let floor = Double(Float.ulpOfOne)
        for b in 0..<binCount {
            out[b] = options.useLog ? Float(log(max(energies[b], floor))) : Float(energies[b])
        }
    }
}
