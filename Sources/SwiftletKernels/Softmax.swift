extension Kernels {
    /// Softmax of one contiguous row of `count > 0` floats, in place.
    @inline(__always)
    static func softmaxRow(_ row: UnsafeMutablePointer<Float>, _ count: Int) {
        let m = maximum(row, count)
        let shift = F8(repeating: m)
        var s0 = F8()
        var s1 = F8()
        var i = 0
        while i + 16 <= count {
            let e0 = vexp(load8(row + i) - shift)
            let e1 = vexp(load8(row + i + 8) - shift)
            store8(e0, row + i)
            store8(e1, row + i + 8)
            s0 += e0
            s1 += e1
            i += 16
        }
        if i + 8 <= count {
            let e = vexp(load8(row + i) - shift)
            store8(e, row + i)
            s0 += e
            i += 8
        }
        if i < count {
            // Padding lanes are −∞, so they contribute exactly 0 to the sum.
            let e = vexp(loadPartial(row + i, count - i, fill: -.infinity) - shift)
            storePartial(e, row + i, count - i)
            s1 += e
        }
        let inv = 1 / (s0 + s1).sum()
        mapVector(row, row, count) { $0 * inv }
    }
}
