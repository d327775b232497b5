import Foundation
import SwiftletKernels
import Testing

/// The `fbank-test` fixture: two Speech Commands-style clips with torchaudio's features.
enum FbankFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/fbank-test").standardized.path

    static func bytes(_ name: String) throws -> [UInt8] {
        let path = directory + "/" + name
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FbankFixtureError("cannot read \(path)")
        }
        return [UInt8](data)
    }

    /// 16-bit mono PCM samples of a RIFF WAV file.
    static func wav(_ name: String) throws -> [Int16] {
        let b = try bytes(name)
        func u32(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 | Int(b[o + 2]) << 16 | Int(b[o + 3]) << 24 }
        guard b.count >= 12, String(decoding: b[0..<4], as: UTF8.self) == "RIFF" else {
            throw FbankFixtureError("\(name) is not RIFF")
        }
        var o = 12
        while o + 8 <= b.count {
            let id = String(decoding: b[o..<(o + 4)], as: UTF8.self)
            let size = u32(o + 4)
            if id == "data" {
                let n = min(size, b.count - o - 8) / 2
                return (0..<n).map { Int16(bitPattern: UInt16(b[o + 8 + 2 * $0]) | UInt16(b[o + 9 + 2 * $0]) << 8) }
            }
            o += 8 + size + (size & 1)
        }
        throw FbankFixtureError("\(name) has no data chunk")
    }

    /// A little-endian float32 .npy array.
    static func npy(_ name: String) throws -> (shape: [Int], values: [Float]) {
        let b = try bytes(name)
        guard b.count > 10, b[1] == UInt8(ascii: "N") else { throw FbankFixtureError("\(name) is not .npy") }
        let headerLength =
            b[6] == 1 ? Int(b[8]) | Int(b[9]) << 8 : Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24
        let start = b[6] == 1 ? 10 : 12
        let header = String(decoding: b[start..<(start + headerLength)], as: UTF8.self)
        guard header.contains("'<f4'"), header.contains("'fortran_order': False") else {
            throw FbankFixtureError("\(name): \(header)")
        }
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let body = start + headerLength
        let count = shape.reduce(1, *)
        let values = (0..<count).map { i -> Float in
            let o = body + 4 * i
            return Float(
                bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)
        }
        return (shape, values)
    }

    /// Largest |a − e| and whether every element is within 1e-4 + 1e-4·|e|.
    static func compare(_ actual: [Float], _ expected: [Float]) -> (maxError: Float, ok: Bool) {
        var worst: Float = 0
        var ok = actual.count == expected.count
        for (a, e) in zip(actual, expected) {
            let err = abs(a - e)
            worst = max(worst, err)
            if !(err <= 1e-4 + 1e-4 * abs(e)) { ok = false }
        }
        return (worst, ok)
    }
}

struct FbankFixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite struct FbankTests {
    @Test(arguments: [0, 1])
    func wholeClipMatchesTorchaudio(clip: Int) throws {
        let pcm = try FbankFixture.wav("clip\(clip).wav")
        let want = try FbankFixture.npy("clip\(clip)_fbank_raw.npy")
        let (frames, values) = try pcm.withUnsafeBufferPointer { try FbankExtractor.features(pcm: $0) }
        #expect(frames == want.shape[0])
        #expect(FbankOptions.speechCommands.frameCount(sampleCount: pcm.count) == frames)
        let (err, ok) = FbankFixture.compare(values, want.values)
        print("fbank clip\(clip) raw: \(frames) frames, max abs error \(err)")
        #expect(ok, "max abs error \(err)")
    }

    @Test(arguments: [0, 1])
    func normalizedFeaturesMatchTheDataLoader(clip: Int) throws {
        let pcm = try FbankFixture.wav("clip\(clip).wav")
        let want = try FbankFixture.npy("clip\(clip)_features.npy")
        let (frames, values) = try pcm.withUnsafeBufferPointer { try FbankExtractor.features(pcm: $0) }
        let input = try FbankNormalization.speechCommands.modelInput(features: values, frames: frames, bins: 128)
        #expect(want.shape == [128, 128])
        let (err, ok) = FbankFixture.compare(input, want.values)
        print("fbank clip\(clip) normalized: max abs error \(err)")
        #expect(ok, "max abs error \(err)")
        // Pad rows (clip 1 has 61 frames) take the normalised zero, not zero.
        if frames < 128 {
            #expect(abs(input[127 * 128] - 0.6150423) < 1e-6)
        }
    }

    @Test func incrementalPushesGiveTheWholeClipFrames() throws {
        let pcm = try FbankFixture.wav("clip0.wav")
        let whole = try pcm.withUnsafeBufferPointer { try FbankExtractor.features(pcm: $0) }
        let extractor = try FbankExtractor()
        var got: [Float] = []
        var out = [Float](repeating: 0, count: 64 * 128)
        let pieces = [1, 7, 160, 399, 1, 333, 1024, 2]
        var i = 0
        var p = 0
        while i < pcm.count {
            let n = min(pieces[p % pieces.count], pcm.count - i)
            p += 1
            let ready = extractor.framesReady(afterPushing: n)
            let made = try pcm[i..<(i + n)].withUnsafeBufferPointer { src in
                try out.withUnsafeMutableBufferPointer { try extractor.push(pcm: src, into: $0) }
            }
            #expect(made == ready)
            got += out[0..<(made * 128)]
            // A frame is out as soon as its last sample is in.
            #expect(extractor.framesProduced == FbankOptions.speechCommands.frameCount(sampleCount: i + n))
            i += n
        }
        #expect(got == whole.values)
    }

    @Test func stateSaveAndRestoreMidFrame() throws {
        let pcm = try FbankFixture.wav("clip1.wav").map { Float($0) / 32768 }
        let a = try FbankExtractor()
        let b = try FbankExtractor()
        var out = [Float](repeating: 0, count: 128 * 128)
        let cut = 5_555
        _ = try pcm[0..<cut].withUnsafeBufferPointer { src in
            try out.withUnsafeMutableBufferPointer { try a.push(src, into: $0) }
        }
        var state = [UInt8](repeating: 0, count: a.stateByteCount)
        try state.withUnsafeMutableBytes { try a.saveState(into: $0) }
        try state.withUnsafeBytes { try b.loadState(from: $0) }
        #expect(b.framesProduced == a.framesProduced)
        var outA = out
        var outB = out
        let na = try pcm[cut...].withUnsafeBufferPointer { src in
            try outA.withUnsafeMutableBufferPointer { try a.push(src, into: $0) }
        }
        let nb = try pcm[cut...].withUnsafeBufferPointer { src in
            try outB.withUnsafeMutableBufferPointer { try b.push(src, into: $0) }
        }
        #expect(na == nb && na > 0)
        #expect(outA[0..<(na * 128)] == outB[0..<(nb * 128)])
        state[0] ^= 0xFF
        #expect(throws: KernelError.self) { try state.withUnsafeBytes { try b.loadState(from: $0) } }
    }

    @Test func badInputsThrowWithoutConsuming() throws {
        let e = try FbankExtractor()
        var small = [Float](repeating: 0, count: 127)
        let samples = [Float](repeating: 0.1, count: 400)
        #expect(throws: KernelError.self) {
            try samples.withUnsafeBufferPointer { s in
                try small.withUnsafeMutableBufferPointer { try e.push(s, into: $0) }
            }
        }
        #expect(e.framesReady(afterPushing: 400) == 1) // nothing was consumed
        var bad = samples
        bad[17] = .nan
        var out = [Float](repeating: 0, count: 128)
        #expect(throws: KernelError.self) {
            try bad.withUnsafeBufferPointer { s in try out.withUnsafeMutableBufferPointer { try e.push(s, into: $0) } }
        }
        var options = FbankOptions()
        options.numMelBins = 0
        #expect(throws: KernelError.self) { try FbankExtractor(options: options) }
        options = FbankOptions()
        options.lowFrequency = 9000
        #expect(throws: KernelError.self) { try FbankExtractor(options: options) }
        #expect(throws: KernelError.self) { try RealFFT(size: 400) }
        #expect(throws: KernelError.self) {
            try FbankNormalization.speechCommands.modelInput(features: [1, 2, 3], frames: 2, bins: 2)
        }
    }

    /// Issue 11 F1: times read from a model file (NaN, ±inf, 1e300) reached `Int(rate · ms)`, which
    /// traps; now the counts are 0 and `validate` (and the extractor) refuse them.
    @Test(arguments: [Double.nan, .infinity, -.infinity, 1e300, -1e300])
    func nonFiniteFrameTimesAreRefusedNotTrapped(_ v: Double) {
        var o = FbankOptions()
        o.frameLengthMs = v
        #expect(o.frameLength == 0 && o.fftSize == 1)
        #expect(throws: KernelError.self) { try o.validate() }
        #expect(throws: KernelError.self) { try FbankExtractor(options: o) }
        o = FbankOptions()
        o.frameShiftMs = v
        #expect(o.frameShift == 0)
        #expect(throws: KernelError.self) { try o.validate() }
        #expect(o.frameCount(sampleCount: 16000) == 0)
    }

    @Test func shortClipHasNoFrames() throws {
        let r = try [Float](repeating: 0.5, count: 399).withUnsafeBufferPointer { try FbankExtractor.features($0) }
        #expect(r.frames == 0 && r.values.isEmpty)
    }

    @Test func realFFTMatchesADirectDFT() throws {
        for size in [4, 8, 64, 512] {
            let fft = try RealFFT(size: size)
            var x = [Double](repeating: 0, count: size)
            var seed: UInt64 = 12345
            for i in 0..<size {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                x[i] = Double(seed >> 11) / Double(1 << 53) - 0.5
            }
            var re = [Double](repeating: 0, count: fft.binCount)
            var im = re
            var work = [Double](repeating: 0, count: fft.workCount)
            fft.forward(x, real: &re, imag: &im, work: &work)
            var worst = 0.0
            for k in 0..<fft.binCount {
                var sr = 0.0
                var si = 0.0
                for n in 0..<size {
                    let a = -2 * Double.pi * Double(k * n) / Double(size)
                    sr += x[n] * cos(a)
                    si += x[n] * sin(a)
                }
                worst = max(worst, abs(sr - re[k]), abs(si - im[k]))
            }
            #expect(worst < 1e-12, "size \(size): \(worst)")
        }
    }

    @Test func melBanksHaveKaldisShape() throws {
        let banks = try FbankMelBanks(options: .speechCommands)
        #expect(banks.binCount == 128)
        #expect(banks.weights.count == 504)
        #expect(banks.length[3] == 0) // the empty low filter: its log energy is the floor
        #expect(banks.length.max() == 10)
        #expect(banks.length[0] == 1 && banks.length[2] == 1 && banks.length[4] == 1)
    }
}
