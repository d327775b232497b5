import Testing
@testable import SwiftletKernels

@Suite struct ConvolutionTests {
  struct Conv1DCase: CustomStringConvertible, Sendable {
    var inC: Int, outC: Int, length: Int, kernel: Int, stride = 1, padLeft = 0, padRight = 0
    var dilation = 1, groups = 1
    var description: String {
      "in\(inC) out\(outC) L\(length) k\(kernel) s\(stride) pad\(padLeft)/\(padRight) d\(dilation) g\(groups)"
    }
  }

  static let conv1dCases: [Conv1DCase] = [
    Conv1DCase(inC: 5, outC: 7, length: 23, kernel: 3, padLeft: 1, padRight: 1),
    Conv1DCase(inC: 4, outC: 6, length: 30, kernel: 5, stride: 2, padLeft: 2, padRight: 2),
    Conv1DCase(inC: 6, outC: 4, length: 17, kernel: 3, padLeft: 4, padRight: 0, dilation: 2, groups: 2),  // causal
    Conv1DCase(inC: 8, outC: 8, length: 37, kernel: 7, padLeft: 3, padRight: 3, groups: 8),  // depthwise
    Conv1DCase(inC: 3, outC: 6, length: 20, kernel: 4, stride: 2, padLeft: 1, padRight: 2, groups: 3),  // depthwise ×2, strided
    Conv1DCase(inC: 4, outC: 4, length: 9, kernel: 3, padLeft: 2, padRight: 0, dilation: 3, groups: 4),  // depthwise dilated
    Conv1DCase(inC: 9, outC: 5, length: 19, kernel: 1),  // pointwise
    Conv1DCase(inC: 9, outC: 6, length: 19, kernel: 1, groups: 3),  // grouped pointwise
    Conv1DCase(inC: 2, outC: 3, length: 2, kernel: 5, padLeft: 3, padRight: 3),  // padding wider than input
    Conv1DCase(inC: 1, outC: 1, length: 40, kernel: 3, stride: 3),
  ]

  private func referenceConv1d(_ t: Conv1DCase, x: Buffer, w: Buffer, bias: Buffer?) -> [Double] {
    let outLength = (t.length + t.padLeft + t.padRight - t.dilation * (t.kernel - 1) - 1) / t.stride + 1
    let gi = t.inC / t.groups, go = t.outC / t.groups
    var y = [Double](repeating: 0, count: t.outC * outLength)
    for o in 0..<t.outC {
      let g = o / go
      for p in 0..<outLength {
        var s = Double(bias?[o] ?? 0)
        for c in 0..<gi {
          for j in 0..<t.kernel {
            let pos = p * t.stride + j * t.dilation - t.padLeft
            guard pos >= 0, pos < t.length else { continue }
            s += Double(w[(o * gi + c) * t.kernel + j]) * Double(x[(g * gi + c) * t.length + pos])
          }
        }
        y[o * outLength + p] = s
      }
    }
    return y
  }

  @Test(arguments: conv1dCases)
  func conv1dMatchesReference(_ t: Conv1DCase) throws {
    var rng = SeededRandom(seed: UInt64(t.inC * 1000 + t.length * 10 + t.kernel))
    let x = Buffer(random: t.inC * t.length, &rng)
    let w = Buffer(random: t.outC * (t.inC / t.groups) * t.kernel, &rng)
    let bias = Buffer(random: t.outC, &rng)
    let outLength = Kernels.conv1dOutputLength(
      length: t.length, kernelSize: t.kernel, stride: t.stride, padLeft: t.padLeft, padRight: t.padRight,
      dilation: t.dilation)
    #expect(outLength == (t.length + t.padLeft + t.padRight - t.dilation * (t.kernel - 1) - 1) / t.stride + 1)
    let arena = Arena()
    for b in [bias, nil] {
      let y = Buffer(count: t.outC * outLength, fill: .nan)
      try Kernels.conv1d(
        x.c, inChannels: t.inC, length: t.length, weight: w.c, bias: b?.c, outChannels: t.outC,
        kernelSize: t.kernel, stride: t.stride, padLeft: t.padLeft, padRight: t.padRight,
        dilation: t.dilation, groups: t.groups, into: y.p, scratch: arena)
      expectClose(y.array, referenceConv1d(t, x: x, w: w, bias: b), "\(t) bias=\(b != nil)")
    }
    #expect(arena.bytesInUse == 0, "scratch must be given back")
  }

  @Test func symmetricPaddingOverloadEqualsExplicit() throws {
    var rng = SeededRandom(seed: 31)
    let x = Buffer(random: 3 * 12, &rng), w = Buffer(random: 4 * 3 * 3, &rng)
    let a = Buffer(count: 4 * 12), b = Buffer(count: 4 * 12)
    let arena = Arena()
    try Kernels.conv1d(x.c, inChannels: 3, length: 12, weight: w.c, bias: nil, outChannels: 4, kernelSize: 3,
                       padding: 1, into: a.p, scratch: arena)
    try Kernels.conv1d(x.c, inChannels: 3, length: 12, weight: w.c, bias: nil, outChannels: 4, kernelSize: 3,
                       padLeft: 1, padRight: 1, into: b.p, scratch: arena)
    #expect(a.array == b.array)
    expectClose(a.array, referenceConv1d(Conv1DCase(inC: 3, outC: 4, length: 12, kernel: 3, padLeft: 1, padRight: 1),
                                         x: x, w: w, bias: nil))
  }

  @Test func conv1dRejectsBadGeometry() {
    let arena = Arena()
    let x = Buffer(count: 64), w = Buffer(count: 64), y = Buffer(count: 64)
    #expect(throws: KernelError.self) {  // channels not divisible by groups
      try Kernels.conv1d(x.c, inChannels: 3, length: 4, weight: w.c, bias: nil, outChannels: 4, kernelSize: 1,
                         groups: 2, into: y.p, scratch: arena)
    }
    #expect(throws: KernelError.self) {  // input shorter than the kernel
      try Kernels.conv1d(x.c, inChannels: 1, length: 2, weight: w.c, bias: nil, outChannels: 1, kernelSize: 3,
                         into: y.p, scratch: arena)
    }
    #expect(throws: KernelError.self) {  // zero stride
      try Kernels.conv1d(x.c, inChannels: 1, length: 8, weight: w.c, bias: nil, outChannels: 1, kernelSize: 3,
                         stride: 0, into: y.p, scratch: arena)
    }
  }

  struct Conv2DCase: CustomStringConvertible, Sendable {
    var inC: Int, outC: Int, h: Int, w: Int, kh: Int, kw: Int
    var sh = 1, sw = 1, ph = 0, pw = 0, groups = 1
    var description: String { "in\(inC) out\(outC) \(h)x\(w) k\(kh)x\(kw) s\(sh)x\(sw) p\(ph)x\(pw) g\(groups)" }
  }

  static let conv2dCases: [Conv2DCase] = [
    Conv2DCase(inC: 3, outC: 10, h: 16, w: 16, kh: 4, kw: 4, sh: 4, sw: 4),  // ViT patch embedding
    Conv2DCase(inC: 3, outC: 5, h: 9, w: 11, kh: 3, kw: 2, sh: 2, sw: 1, ph: 1, pw: 2),
    Conv2DCase(inC: 4, outC: 8, h: 7, w: 6, kh: 3, kw: 3, ph: 1, pw: 1, groups: 4),  // depthwise ×2
    Conv2DCase(inC: 2, outC: 2, h: 1, w: 5, kh: 3, kw: 3, sh: 1, sw: 2, ph: 1, pw: 1),
  ]

  @Test(arguments: conv2dCases)
  func conv2dMatchesReference(_ t: Conv2DCase) throws {
    var rng = SeededRandom(seed: UInt64(t.inC * 100 + t.h * 10 + t.kh))
    let gi = t.inC / t.groups, go = t.outC / t.groups
    let x = Buffer(random: t.inC * t.h * t.w, &rng)
    let w = Buffer(random: t.outC * gi * t.kh * t.kw, &rng)
    let bias = Buffer(random: t.outC, &rng)
    let (oh, ow) = Kernels.conv2dOutputSize(
      height: t.h, width: t.w, kernelHeight: t.kh, kernelWidth: t.kw, strideH: t.sh, strideW: t.sw,
      padH: t.ph, padW: t.pw)
    #expect(oh == (t.h + 2 * t.ph - t.kh) / t.sh + 1 && ow == (t.w + 2 * t.pw - t.kw) / t.sw + 1)
    let y = Buffer(count: t.outC * oh * ow, fill: .nan)
    try Kernels.conv2d(
      x.c, inChannels: t.inC, height: t.h, width: t.w, weight: w.c, bias: bias.c, outChannels: t.outC,
      kernelHeight: t.kh, kernelWidth: t.kw, strideH: t.sh, strideW: t.sw, padH: t.ph, padW: t.pw,
      groups: t.groups, into: y.p, scratch: Arena())
    var expected = [Double](repeating: 0, count: t.outC * oh * ow)
    for o in 0..<t.outC {
      let g = o / go
      for r in 0..<oh {
        for q in 0..<ow {
          var s = Double(bias[o])
          for c in 0..<gi {
            for i in 0..<t.kh {
              for j in 0..<t.kw {
                let yy = r * t.sh + i - t.ph, xx = q * t.sw + j - t.pw
                guard yy >= 0, yy < t.h, xx >= 0, xx < t.w else { continue }
                s += Double(w[((o * gi + c) * t.kh + i) * t.kw + j]) * Double(x[((g * gi + c) * t.h + yy) * t.w + xx])
              }
            }
          }
          expected[(o * oh + r) * ow + q] = s
        }
      }
    }
    expectClose(y.array, expected, "\(t)")
  }
}
