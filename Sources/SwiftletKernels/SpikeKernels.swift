// Kernels for spiking layers: a multi-step LIF neuron run along time, and a product that sums the
// weight rows of the non-zero inputs only (spikes are exactly 0 or 1, so a dense product mostly
// multiplies by zero).

fileprivate typealias F16 = SIMD16<Float>

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> F16 {
  UnsafeRawPointer(p).loadUnaligned(as: F16.self)
}

@inline(__always)
private func store16(_ v: F16, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: F16.self)
}

extension Kernels {
  /// A leaky integrate-and-fire neuron per column, stepped along the rows (time) of
  /// `x[rows, cols]` (row stride `ldx`): with the input `i = x · scale + shift` (an optional folded
  /// BatchNorm), `h = v + (i − v) / tau`, spike `s = h ≥ threshold`, then `v = s ? 0 : h` (hard reset
  /// to 0, spikingjelly's `MultiStepLIFNode` with `decay_input`). `membrane[cols]` carries `v` in and
  /// out. Writes the spikes (exactly 0 or 1) to `y` (row stride `ldy`; may be `x`). Returns the
  /// number of spikes.
  @discardableResult
  public static func lif(
    _ x: UnsafePointer<Float>, rows: Int, cols: Int, ldx: Int, scale: UnsafePointer<Float>?,
    shift: UnsafePointer<Float>?, membrane: UnsafeMutablePointer<Float>, threshold: Float,
    tau: Float = 2, into y: UnsafeMutablePointer<Float>, ldy: Int
  ) -> Int {
    guard rows > 0, cols > 0 else { return 0 }
    let th = F8(repeating: threshold)
    let one = F8(repeating: 1)
    let zero = F8()
    let invTau = 1 / tau
    // Multiplying by 1/tau equals dividing only when tau is a power of two (the usual tau = 2).
    let exactReciprocal = tau.significandBitPattern == 0
    let vtau = F8(repeating: tau)
    let vinv = F8(repeating: invTau)
    var total = F8()
    var c = 0
    while c < cols {
      let n = min(8, cols - c)
      let full = n == 8
      let sc = scale.map { full ? load8($0 + c) : loadPartial($0 + c, n, fill: 1) } ?? one
      let sh = shift.map { full ? load8($0 + c) : loadPartial($0 + c, n) } ?? zero
      var v = full ? load8(membrane + c) : loadPartial(membrane + c, n)
      var count = F8()
      for r in 0..<rows {
        let src = x + r * ldx + c
        let input = (full ? load8(src) : loadPartial(src, n)) * sc + sh
        let h = exactReciprocal ? v + (input - v) * vinv : v + (input - v) / vtau
        let fired = h .>= th
        let s = zero.replacing(with: one, where: fired)
        v = h.replacing(with: zero, where: fired)
        count += s
        if full { store8(s, y + r * ldy + c) } else { storePartial(s, y + r * ldy + c, n) }
      }
      if full { store8(v, membrane + c) } else { storePartial(v, membrane + c, n) }
      total += count
      c += 8
    }
    return Int(total.sum())
  }

  /// Number of non-zero entries of `x[rows, cols]` (row stride `ldx`).
  public static func countNonZero(_ x: UnsafePointer<Float>, rows: Int, cols: Int, ldx: Int) -> Int {
    guard rows > 0, cols > 0 else { return 0 }
    var count = 0
    for r in 0..<rows {
      let row = x + r * ldx
      var acc = F8()
      var i = 0
      while i + 8 <= cols {
        acc += F8().replacing(with: 1, where: load8(row + i) .!= 0)
        i += 8
      }
      count += Int(acc.sum())
      while i < cols {
        if row[i] != 0 { count += 1 }
        i += 1
      }
    }
    return count
  }

  /// `y[r, :] (+)= bias + Σ_{i : x[r, i] ≠ 0} x[r, i] · w[i, :]` for each row `r`: a linear layer
  /// whose input is mostly zero (spikes, or small integer sums of spikes), with the weight stored
  /// input-major, `w[inFeatures, outFeatures]`. Only the rows of `w` for non-zero inputs are read.
  /// With `binary`, the non-zero inputs must all be 1 and are not multiplied. With `accumulate`,
  /// the sums are added to `y`; otherwise `y` is overwritten. `bias` (`[outFeatures]`) is optional.
  /// `indices` and `values` are scratch for `inFeatures` entries each. Returns the number of
  /// non-zero inputs.
  @discardableResult
  public static func sparseInputLinear(
    _ x: UnsafePointer<Float>, rows: Int, inFeatures: Int, ldx: Int, weight w: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, outFeatures: Int, into y: UnsafeMutablePointer<Float>, ldy: Int,
    accumulate: Bool, binary: Bool, indices: UnsafeMutablePointer<Int32>,
    values: UnsafeMutablePointer<Float>
  ) -> Int {
    guard rows > 0, outFeatures > 0 else { return 0 }
    var active = 0
    for r in 0..<rows {
      let xr = x + r * ldx
      // Compaction: skip all-zero groups of 8; inside a group, always write the slot and advance
      // only past non-zeros (no data-dependent branch).
      var n = 0
      var i = 0
      while i < inFeatures {
        let len = min(8, inFeatures - i)
        if len == 8 && !any(load8(xr + i) .!= 0) {
          i += 8
          continue
        }
        for j in i..<(i + len) {
          let v = xr[j]
          indices[n] = Int32(truncatingIfNeeded: j)
          values[n] = v
          n &+= v != 0 ? 1 : 0
        }
        i += len
      }
      active += n
      let yr = y + r * ldy
      let vals: UnsafePointer<Float>? = binary ? nil : UnsafePointer(values)
      if rows == 1 {
        // One row (a streamed frame): the weights are not cache-resident, so read each selected
        // row from start to end (prefetch-friendly) and accumulate in the cache-resident output.
        sumRowsStreaming(w, outFeatures, indices, vals, n, bias: bias, into: yr, accumulate: accumulate)
      } else {
        sumRows(w, outFeatures, indices, vals, n, bias: bias, into: yr, accumulate: accumulate)
      }
    }
    return active
  }

  /// Row by row: `y (+)= bias + Σ_k values[k] · w[indices[k], :]` (values nil: all 1).
  private static func sumRowsStreaming(
    _ w: UnsafePointer<Float>, _ out: Int, _ idx: UnsafePointer<Int32>, _ values: UnsafePointer<Float>?,
    _ n: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, accumulate: Bool
  ) {
    if !accumulate {
      if let bias { y.update(from: bias, count: out) } else { y.update(repeating: 0, count: out) }
    } else if let bias {
      zipVector(y, bias, y, out) { $0 + $1 }
    }
    var k = 0
    if let values {
      while k < n {
        let row = w + Int(idx[k]) * out
        let v = F8(repeating: values[k])
        zipVector(row, y, y, out) { a, b in a * v + b }
        k += 1
      }
      return
    }
    while k + 2 <= n {
      let r0 = w + Int(idx[k]) * out, r1 = w + Int(idx[k + 1]) * out
      var o = 0
      while o + 16 <= out {
        store16(load16(y + o) + (load16(r0 + o) + load16(r1 + o)), y + o)
        o += 16
      }
      while o < out {
        y[o] += r0[o] + r1[o]
        o += 1
      }
      k += 2
    }
    if k < n {
      let r0 = w + Int(idx[k]) * out
      zipVector(r0, y, y, out) { $0 + $1 }
    }
  }

  /// Output block by output block, the sums kept in registers: `y (+)= bias + Σ_k values[k] ·
  /// w[indices[k], :]` over `out` columns (values nil: all 1). For several rows of cache-resident
  /// weights.
  private static func sumRows(
    _ w: UnsafePointer<Float>, _ out: Int, _ idx: UnsafePointer<Int32>, _ values: UnsafePointer<Float>?,
    _ n: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>, accumulate: Bool
  ) {
    var o = 0
    // 32 outputs at a time in registers; every weight row contributes one contiguous 128-byte run.
    while o + 32 <= out {
      var a0: F16, a1: F16
      if accumulate {
        a0 = load16(y + o)
        a1 = load16(y + o + 16)
      } else {
        a0 = F16()
        a1 = F16()
      }
      if let bias {
        a0 += load16(bias + o)
        a1 += load16(bias + o + 16)
      }
      if let values {
        for k in 0..<n {
          let row = w + Int(idx[k]) * out + o
          let v = F16(repeating: values[k])
          a0 += load16(row) * v
          a1 += load16(row + 16) * v
        }
      } else {
        var k = 0
        // Four rows per step: independent loads, a shallow add tree, less loop overhead.
        while k + 4 <= n {
          let r0 = w + (Int(idx[k]) &* out &+ o), r1 = w + (Int(idx[k + 1]) &* out &+ o)
          let r2 = w + (Int(idx[k + 2]) &* out &+ o), r3 = w + (Int(idx[k + 3]) &* out &+ o)
          a0 += (load16(r0) + load16(r1)) + (load16(r2) + load16(r3))
          a1 += (load16(r0 + 16) + load16(r1 + 16)) + (load16(r2 + 16) + load16(r3 + 16))
          k &+= 4
        }
        while k < n {
          let r0 = w + (Int(idx[k]) &* out &+ o)
          a0 += load16(r0)
          a1 += load16(r0 + 16)
          k &+= 1
        }
      }
      store16(a0, y + o)
      store16(a1, y + o + 16)
      o += 32
    }
    while o < out {
      let len = min(8, out - o)
      let full = len == 8
      var a = accumulate ? (full ? load8(y + o) : loadPartial(y + o, len)) : F8()
      if let bias { a += full ? load8(bias + o) : loadPartial(bias + o, len) }
      for k in 0..<n {
        let row = w + Int(idx[k]) * out + o
        let r = full ? load8(row) : loadPartial(row, len)
        a += values.map { r * F8(repeating: $0[k]) } ?? r
      }
      if full { store8(a, y + o) } else { storePartial(a, y + o, len) }
      o += 8
    }
  }
}
