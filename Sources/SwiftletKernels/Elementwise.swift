/// Where the channel index sits in a 2-D activation buffer.
public enum ChannelLayout: Sendable {
  /// `[channels, length]`: each channel is a contiguous row (convolution layout).
  case channelsFirst
  /// `[length, channels]`: each time step / token is a contiguous row (linear-layer layout).
  case channelsLast
}

// Elementwise arithmetic.
extension Kernels {
  /// `y[i] = a[i] + b[i]`. `y` may be `a` or `b`.
  public static func add(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
  ) {
    zipVector(a, b, y, count) { $0 + $1 }
  }

  /// `y[i] = a[i] · b[i]`. `y` may be `a` or `b`.
  public static func multiply(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
  ) {
    zipVector(a, b, y, count) { $0 * $1 }
  }

  /// `y[i] += alpha · x[i]` (a gated residual, for example).
  public static func addScaled(
    _ x: UnsafePointer<Float>, alpha: Float, into y: UnsafeMutablePointer<Float>, count: Int
  ) {
    zipVector(x, y, y, count) { a, b in a * alpha + b }
  }

  /// `x[i] *= factor`.
  public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    mapVector(x, x, count) { $0 * factor }
  }

  /// Adds `bias[cols]` to every row of `x[rows, cols]`.
  public static func addBias(
    _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>
  ) {
    guard rows > 0, cols > 0 else { return }
    for r in 0..<rows {
      let row = x + r * cols
      zipVector(row, bias, row, cols) { $0 + $1 }
    }
  }

  /// Per-channel affine map in place, `x = x · scale[c] + shift[c]` (a folded BatchNorm, for example).
  ///
  /// `x` is `[channels, length]` or `[length, channels]` according to `layout`; `shift` may be nil.
  public static func scaleShift(
    _ x: UnsafeMutablePointer<Float>, layout: ChannelLayout, channels: Int, length: Int,
    scale: UnsafePointer<Float>, shift: UnsafePointer<Float>?
  ) {
    guard channels > 0, length > 0 else { return }
    switch layout {
    case .channelsFirst:
      for c in 0..<channels {
        let s = scale[c], t = shift?[c] ?? 0
        let row = x + c * length
        mapVector(row, row, length) { $0 * s + t }
      }
    case .channelsLast:
      for r in 0..<length {
        let row = x + r * channels
        if let shift {
          zipVector(row, scale, row, channels) { $0 * $1 }
          zipVector(row, shift, row, channels) { $0 + $1 }
        } else {
          zipVector(row, scale, row, channels) { $0 * $1 }
        }
      }
    }
  }

  /// `y[c, r] = x[r, c]` for `x[rows, cols]`; `y` must not overlap `x`.
  public static func transpose(
    _ x: UnsafePointer<Float>, rows: Int, cols: Int, into y: UnsafeMutablePointer<Float>
  ) {
    guard rows > 0, cols > 0 else { return }
    // Tiles keep both the reads and the writes within a few cache lines.
    let tile = 32
    var r0 = 0
    while r0 < rows {
      let r1 = min(r0 + tile, rows)
      var c0 = 0
      while c0 < cols {
        let c1 = min(c0 + tile, cols)
        for r in r0..<r1 {
          let src = x + r * cols
          for c in c0..<c1 { y[c * rows + r] = src[c] }
        }
        c0 = c1
      }
      r0 = r1
    }
  }
}
