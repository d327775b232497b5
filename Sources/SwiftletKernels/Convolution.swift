// Convolutions on channels-first buffers. Grouped and ordinary convolutions are lowered to
// im2col + sgemm per group; depthwise 1-D convolutions use direct vector loops because their
// per-group GEMMs would have a single row.

extension Kernels {
  /// Output length of a 1-D convolution (PyTorch's formula); ≤ 0 means the input is too short.
  public static func conv1dOutputLength(
    length: Int, kernelSize: Int, stride: Int = 1, padLeft: Int = 0, padRight: Int = 0, dilation: Int = 1
  ) -> Int {
    guard stride > 0, kernelSize > 0, dilation > 0 else { return 0 }
    let span = dilation * (kernelSize - 1) + 1
    let padded = length + padLeft + padRight
    return padded < span ? 0 : (padded - span) / stride + 1
  }

  /// Output height and width of a 2-D convolution (PyTorch's formula); ≤ 0 means too small an input.
  public static func conv2dOutputSize(
    height: Int, width: Int, kernelHeight: Int, kernelWidth: Int, strideH: Int = 1, strideW: Int = 1,
    padH: Int = 0, padW: Int = 0
  ) -> (height: Int, width: Int) {
    (conv1dOutputLength(length: height, kernelSize: kernelHeight, stride: strideH, padLeft: padH, padRight: padH),
     conv1dOutputLength(length: width, kernelSize: kernelWidth, stride: strideW, padLeft: padW, padRight: padW))
  }

  /// 1-D convolution with the same zero padding on both sides (PyTorch `Conv1d(padding=p)`).
  /// See ``conv1d(_:inChannels:length:weight:bias:outChannels:kernelSize:stride:padLeft:padRight:dilation:groups:into:scratch:)``.
  public static func conv1d(
    _ x: UnsafePointer<Float>, inChannels: Int, length: Int, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1, into y: UnsafeMutablePointer<Float>, scratch: Arena
  ) throws(KernelError) {
    try conv1d(
      x, inChannels: inChannels, length: length, weight: weight, bias: bias, outChannels: outChannels,
      kernelSize: kernelSize, stride: stride, padLeft: padding, padRight: padding, dilation: dilation,
      groups: groups, into: y, scratch: scratch)
  }

  /// 1-D convolution, `x[inChannels, length]` → `y[outChannels, outLength]` with `outLength` from
  /// ``conv1dOutputLength(length:kernelSize:stride:padLeft:padRight:dilation:)``.
  ///
  /// `weight` is `[outChannels, inChannels / groups, kernelSize]` (PyTorch layout), `bias`
  /// `[outChannels]` optional. Zeros are padded on the left and right separately (a causal
  /// convolution pads only the left). `groups == inChannels` is a depthwise convolution.
  /// `y` must not overlap `x`. Scratch for im2col comes from `scratch` and is given back.
  public static func conv1d(
    _ x: UnsafePointer<Float>, inChannels: Int, length: Int, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, outChannels: Int, kernelSize: Int, stride: Int = 1,
    padLeft: Int, padRight: Int, dilation: Int = 1, groups: Int = 1,
    into y: UnsafeMutablePointer<Float>, scratch: Arena
  ) throws(KernelError) {
    guard inChannels > 0, outChannels > 0, kernelSize > 0, stride > 0, dilation > 0, groups > 0,
      length >= 0, padLeft >= 0, padRight >= 0
    else {
      throw .invalidShape(
        "conv1d: inChannels \(inChannels), outChannels \(outChannels), kernel \(kernelSize), stride \(stride), dilation \(dilation), groups \(groups), length \(length), padding \(padLeft)/\(padRight)")
    }
    guard inChannels % groups == 0, outChannels % groups == 0 else {
      throw .invalidShape("conv1d: \(inChannels) in / \(outChannels) out channels not divisible by \(groups) groups")
    }
    let outLength = conv1dOutputLength(
      length: length, kernelSize: kernelSize, stride: stride, padLeft: padLeft, padRight: padRight,
      dilation: dilation)
    guard outLength > 0 else {
      throw .invalidShape("conv1d: input length \(length) too short for kernel \(kernelSize) (dilation \(dilation))")
    }
    let geometry = Geometry1D(
      length: length, kernel: kernelSize, stride: stride, padLeft: padLeft, dilation: dilation,
      outLength: outLength)

    if groups > 1 && groups == inChannels {
      depthwiseConv1d(x, channels: inChannels, weight: weight, bias: bias, outChannels: outChannels,
                      geometry, into: y)
      return
    }

    fillBias(y, bias: bias, channels: outChannels, length: outLength)
    let groupIn = inChannels / groups, groupOut = outChannels / groups
    let reduction = groupIn * kernelSize
    // A pointwise convolution reads its input directly: no im2col copy.
    let pointwise = kernelSize == 1 && stride == 1 && padLeft == 0 && padRight == 0
    let mark = scratch.mark()
    defer { scratch.release(to: mark) }
    let col = pointwise ? nil : scratch.floats(reduction * outLength)
    for g in 0..<groups {
      let xg = x + g * groupIn * length
      let b: UnsafePointer<Float>
      if let col {
        im2col1d(xg, channels: groupIn, geometry, into: col)
        b = UnsafePointer(col)
      } else {
        b = xg
      }
      BLAS.sgemm(
        transA: false, transB: false, m: groupOut, n: outLength, k: reduction, alpha: 1,
        a: weight + g * groupOut * reduction, lda: reduction, b: b, ldb: outLength,
        beta: bias == nil ? 0 : 1, c: y + g * groupOut * outLength, ldc: outLength)
    }
  }

  /// 2-D convolution, `x[inChannels, height, width]` → `y[outChannels, outHeight, outWidth]` with the
  /// size from ``conv2dOutputSize(height:width:kernelHeight:kernelWidth:strideH:strideW:padH:padW:)``.
  ///
  /// `weight` is `[outChannels, inChannels / groups, kernelHeight, kernelWidth]`, `bias` optional;
  /// symmetric zero padding `padH`/`padW`; dilation 1. A ViT patch embedding is
  /// `kernel = stride = patch`, padding 0. `y` must not overlap `x`. Scratch comes from `scratch`.
  public static func conv2d(
    _ x: UnsafePointer<Float>, inChannels: Int, height: Int, width: Int, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, outChannels: Int, kernelHeight: Int, kernelWidth: Int,
    strideH: Int = 1, strideW: Int = 1, padH: Int = 0, padW: Int = 0, groups: Int = 1,
    into y: UnsafeMutablePointer<Float>, scratch: Arena
  ) throws(KernelError) {
    guard inChannels > 0, outChannels > 0, kernelHeight > 0, kernelWidth > 0, strideH > 0, strideW > 0,
      padH >= 0, padW >= 0, groups > 0, height >= 0, width >= 0
    else {
      throw .invalidShape(
        "conv2d: channels \(inChannels)→\(outChannels), kernel \(kernelHeight)×\(kernelWidth), stride \(strideH)×\(strideW), padding \(padH)×\(padW), groups \(groups), input \(height)×\(width)")
    }
    guard inChannels % groups == 0, outChannels % groups == 0 else {
      throw .invalidShape("conv2d: \(inChannels) in / \(outChannels) out channels not divisible by \(groups) groups")
    }
    let (outHeight, outWidth) = conv2dOutputSize(
      height: height, width: width, kernelHeight: kernelHeight, kernelWidth: kernelWidth,
      strideH: strideH, strideW: strideW, padH: padH, padW: padW)
    guard outHeight > 0, outWidth > 0 else {
      throw .invalidShape("conv2d: input \(height)×\(width) too small for kernel \(kernelHeight)×\(kernelWidth)")
    }
    let rows = Geometry1D(
      length: height, kernel: kernelHeight, stride: strideH, padLeft: padH, dilation: 1, outLength: outHeight)
    let cols = Geometry1D(
      length: width, kernel: kernelWidth, stride: strideW, padLeft: padW, dilation: 1, outLength: outWidth)

    let plane = outHeight * outWidth
    fillBias(y, bias: bias, channels: outChannels, length: plane)
    let groupIn = inChannels / groups, groupOut = outChannels / groups
    let reduction = groupIn * kernelHeight * kernelWidth
    let mark = scratch.mark()
    defer { scratch.release(to: mark) }
    let col = scratch.floats(reduction * plane)
    for g in 0..<groups {
      im2col2d(x + g * groupIn * height * width, channels: groupIn, rows: rows, cols: cols, into: col)
      BLAS.sgemm(
        transA: false, transB: false, m: groupOut, n: plane, k: reduction, alpha: 1,
        a: weight + g * groupOut * reduction, lda: reduction, b: col, ldb: plane,
        beta: bias == nil ? 0 : 1, c: y + g * groupOut * plane, ldc: plane)
    }
  }

  // MARK: - Internals

  /// One spatial axis of a convolution: output position `t`, tap `j` read input `t·stride + j·dilation − padLeft`.
  private struct Geometry1D {
    let length: Int, kernel: Int, stride: Int, padLeft: Int, dilation: Int, outLength: Int

    /// Input offset of tap `j` at output 0.
    @inline(__always) func offset(_ j: Int) -> Int { j * dilation - padLeft }

    /// Output positions whose tap `j` falls inside the input.
    @inline(__always) func validRange(_ j: Int) -> Range<Int> {
      let off = offset(j)
      let lo = off >= 0 ? 0 : (-off + stride - 1) / stride
      let lastInput = length - 1 - off
      let hi = lastInput < 0 ? 0 : min(outLength, lastInput / stride + 1)
      return min(lo, hi)..<hi
    }
  }

  private static func fillBias(
    _ y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, channels: Int, length: Int
  ) {
    guard let bias else { return }
    for c in 0..<channels { (y + c * length).update(repeating: bias[c], count: length) }
  }

  /// Writes the taps of `axis` for one input row into `dst[outLength]`, zero where padding is read.
  @inline(__always)
  private static func gatherRow(
    _ src: UnsafePointer<Float>, _ axis: Geometry1D, tap j: Int, into dst: UnsafeMutablePointer<Float>
  ) {
    let valid = axis.validRange(j)
    let off = axis.offset(j)
    if valid.isEmpty {
      dst.update(repeating: 0, count: axis.outLength)
      return
    }
    if valid.lowerBound > 0 { dst.update(repeating: 0, count: valid.lowerBound) }
    if axis.stride == 1 {
      (dst + valid.lowerBound).update(from: src + valid.lowerBound + off, count: valid.count)
    } else {
      for t in valid { dst[t] = src[t * axis.stride + off] }
    }
    if valid.upperBound < axis.outLength {
      (dst + valid.upperBound).update(repeating: 0, count: axis.outLength - valid.upperBound)
    }
  }

  /// `col[c·K + j, t] = x[c, t·stride + j·dilation − padLeft]` (0 outside the input).
  private static func im2col1d(
    _ x: UnsafePointer<Float>, channels: Int, _ g: Geometry1D, into col: UnsafeMutablePointer<Float>
  ) {
    for c in 0..<channels {
      for j in 0..<g.kernel {
        gatherRow(x + c * g.length, g, tap: j, into: col + (c * g.kernel + j) * g.outLength)
      }
    }
  }

  /// `col[(c·kh + i)·kw + j, oh·outW + ow] = x[c, oh·sh + i − ph, ow·sw + j − pw]` (0 outside).
  private static func im2col2d(
    _ x: UnsafePointer<Float>, channels: Int, rows: Geometry1D, cols: Geometry1D,
    into col: UnsafeMutablePointer<Float>
  ) {
    let plane = rows.outLength * cols.outLength
    for c in 0..<channels {
      let channel = x + c * rows.length * cols.length
      for i in 0..<rows.kernel {
        let validRows = rows.validRange(i)
        for j in 0..<cols.kernel {
          let dst = col + ((c * rows.kernel + i) * cols.kernel + j) * plane
          for oh in 0..<rows.outLength {
            let out = dst + oh * cols.outLength
            if validRows.contains(oh) {
              let ih = oh * rows.stride + rows.offset(i)
              gatherRow(channel + ih * cols.length, cols, tap: j, into: out)
            } else {
              out.update(repeating: 0, count: cols.outLength)
            }
          }
        }
      }
    }
  }

  /// Depthwise (groups == channels) 1-D convolution with `outChannels / channels` filters per channel.
  private static func depthwiseConv1d(
    _ x: UnsafePointer<Float>, channels: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    outChannels: Int, _ g: Geometry1D, into y: UnsafeMutablePointer<Float>
  ) {
    let multiplier = outChannels / channels
    for o in 0..<outChannels {
      let src = x + (o / multiplier) * g.length
      let dst = y + o * g.outLength
      dst.update(repeating: bias?[o] ?? 0, count: g.outLength)
      let w = weight + o * g.kernel
      for j in 0..<g.kernel {
        let valid = g.validRange(j)
        if valid.isEmpty { continue }
        let tap = w[j]
        let off = g.offset(j)
        if g.stride == 1 {
          let d = dst + valid.lowerBound
          zipVector(src + valid.lowerBound + off, d, d, valid.count) { a, b in a * tap + b }
        } else {
          for t in valid { dst[t] += tap * src[t * g.stride + off] }
        }
      }
    }
  }
}
