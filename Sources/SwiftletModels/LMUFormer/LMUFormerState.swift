/// Little-endian writer and reader of a stream's saved state.
struct LMUStateWriter {
    let buffer: UnsafeMutableRawBufferPointer
    private(set) var offset = 0

    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    mutating func put<T: FixedWidthInteger>(_ v: T) {
        buffer.storeBytes(of: v.littleEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func advance(by n: Int) { offset += n }

    mutating func put(_ v: Float) { put(v.bitPattern) }
    mutating func put(_ v: Double) { put(v.bitPattern) }

    mutating func put(_ p: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { put(p[i]) }
    }
}

struct LMUStateReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - offset }

    mutating func get<T: FixedWidthInteger>(_: T.Type) throws(ModelError) -> T {
        guard remaining >= MemoryLayout<T>.size else {
            throw ModelError(.invalidArgument, "the saved stream state is truncated")
        }
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func float() throws(ModelError) -> Float {
        let v = Float(bitPattern: try get(UInt32.self))
        guard v.isFinite else { throw ModelError(.invalidArgument, "the saved stream state holds a non-finite value") }
        return v
    }

    mutating func double() throws(ModelError) -> Double {
        let v = Double(bitPattern: try get(UInt64.self))
        guard v.isFinite else { throw ModelError(.invalidArgument, "the saved stream state holds a non-finite value") }
        return v
    }

    /// Reads `count` floats into `p` (the caller validates the whole state before committing it).
    mutating func floats(into p: UnsafeMutablePointer<Float>, count: Int) throws(ModelError) {
        for i in 0..<count { p[i] = try float() }
    }

    mutating func count(max: Int) throws(ModelError) -> Int {
        let v = try get(UInt64.self)
        guard v <= UInt64(max) else {
            throw ModelError(.invalidArgument, "the saved stream state is damaged (a count of \(v))")
        }
        return Int(v)
    }
}

/// FNV-1a over the state bytes: catches a truncated or altered state before it is loaded.
func lmuStateChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01B3
    }
    return h
}

extension LMUFormerEngine {
    /// Bytes of ``save(_:)``.
    var stateByteCount: Int {
        let c = model.dim
        var n = 4 + 8 + 8 + 8 + 5 * 4
        n += (0..<5).reduce(0) { $0 + 2 * model.convs[$1].inChannels * 4 }
        if ownsResid { n += 2 * c * 4 }
        n += model.membraneCount * 4 + model.depth * model.memory * 4 + model.depth
        n += model.depth * (4 + model.impulseLength * 4)
        n += c * 8 + model.lifLayers.count * 8 + model.depth * 8
        return n
    }

    func save(_ w: inout LMUStateWriter) {
        let c = model.dim
        w.put(UInt32(finished ? 1 : 0))
        w.put(UInt64(framesIn))
        w.put(UInt64(rowsOut))
        w.put(flops)
        for s in 0..<5 { w.put(UInt32(held[s])) }
        for s in 0..<5 { w.put(stage[s], count: 2 * model.convs[s].inChannels) }
        if ownsResid { w.put(resid, count: 2 * c) }
        w.put(membranes, count: model.membraneCount)
        w.put(memState, count: model.depth * model.memory)
        for n in 0..<model.depth { w.put(UInt8(memFresh[n] ? 1 : 0)) }
        for n in 0..<model.depth { w.put(UInt32(memPosition[n])) }
        w.put(memHistory, count: model.depth * model.impulseLength)
        for i in 0..<c { w.put(headSum[i]) }
        for i in 0..<model.lifLayers.count { w.put(UInt64(spikes[i])) }
        for n in 0..<model.depth { w.put(UInt64(uActive[n])) }
    }

    /// Reads a state written by ``save(_:)`` into scratch copies, checks it, then commits it.
    func load(_ r: inout LMUStateReader) throws(ModelError) {
        let c = model.dim
        let m = model.memory
        let d = model.depth
        let limit = 1 << 53
        let fin = try r.get(UInt32.self)
        let frames = try r.count(max: limit)
        let rows = try r.count(max: limit)
        let work = try r.double()
        var heldRows = [Int](repeating: 0, count: 5)
        for s in 0..<5 { heldRows[s] = Int(try r.get(UInt32.self)) }
        // The counters of a stream are tied together: each of the five convolutions holds two rows
        // once a frame has reached it (one, the left pad, before), rows trail frames by the five of
        // look-ahead, and a flushed clip holds nothing and has emitted every row.
        let consistent =
            fin == 1
            ? heldRows.allSatisfy({ $0 == 0 }) && rows == frames
            : (0..<5).allSatisfy({ heldRows[$0] == (frames > $0 ? 2 : 1) })
                && rows == max(0, frames - LMUFormerModel.latencyFrames)
        guard fin <= 1, consistent, work >= 0 else {
            throw ModelError(
                .invalidArgument,
                "the saved stream state is damaged or inconsistent (\(frames) frames in, \(rows) rows out, held \(heldRows))"
            )
        }
        var history: [[Float]] = []
        for s in 0..<5 {
            var rowsOf = [Float](repeating: 0, count: 2 * model.convs[s].inChannels)
            for i in rowsOf.indices { rowsOf[i] = try r.float() }
            history.append(rowsOf)
        }
        var residual = [Float](repeating: 0, count: ownsResid ? 2 * c : 0)
        for i in residual.indices { residual[i] = try r.float() }
        var membrane = [Float](repeating: 0, count: model.membraneCount)
        for i in membrane.indices { membrane[i] = try r.float() }
        var memory = [Float](repeating: 0, count: d * m)
        for i in memory.indices { memory[i] = try r.float() }
        var fresh = [Bool](repeating: true, count: d)
        for n in 0..<d {
            let v = try r.get(UInt8.self)
            guard v <= 1 else { throw ModelError(.invalidArgument, "the saved stream state is damaged") }
            fresh[n] = v == 1
        }
        let l = model.impulseLength
        var positions = [Int](repeating: 0, count: d)
        for n in 0..<d {
            positions[n] = Int(try r.get(UInt32.self))
            guard positions[n] < l else { throw ModelError(.invalidArgument, "the saved stream state is damaged") }
        }
        var inputs = [Float](repeating: 0, count: d * l)
        for i in inputs.indices { inputs[i] = try r.float() }
        var sums = [Double](repeating: 0, count: c)
        for i in 0..<c { sums[i] = try r.double() }
        var spikeCounts = [Int](repeating: 0, count: model.lifLayers.count)
        for i in spikeCounts.indices { spikeCounts[i] = try r.count(max: limit) }
        var active = [Int](repeating: 0, count: d)
        for n in 0..<d { active[n] = try r.count(max: limit) }
        // The memory has run once per emitted row: its place in the block of `l` steps, whether a
        // block has completed (before that its start state is zero), and the counts it bounds.
        for n in 0..<d {
            let zero = memory[(n * m)..<((n + 1) * m)].allSatisfy { $0 == 0 }
            guard positions[n] == rows % l, fresh[n] == (rows < l), !fresh[n] || zero, active[n] <= rows else {
                throw ModelError(
                    .invalidArgument,
                    "the saved stream state is inconsistent (block \(n): memory at step \(positions[n]) after \(rows) rows)"
                )
            }
        }
        for (i, layer) in model.lifLayers.enumerated()
        where spikeCounts[i] > (frames + LMUFormerModel.latencyFrames) * layer.width {
            throw ModelError(
                .invalidArgument,
                "the saved stream state is inconsistent (\(spikeCounts[i]) spikes in \(layer.name) after \(frames) frames)"
            )
        }

        finished = fin == 1
        framesIn = frames
        rowsOut = rows
        flops = work
        for s in 0..<5 {
            held[s] = heldRows[s]
            stage[s].update(from: history[s], count: history[s].count)
        }
        if ownsResid { resid.update(from: residual, count: residual.count) }
        membranes.update(from: membrane, count: membrane.count)
        memState.update(from: memory, count: memory.count)
        for n in 0..<d {
            memFresh[n] = fresh[n]
            uActive[n] = active[n]
            memPosition[n] = positions[n]
            memFreeReady[n] = false // recomputed from memState at the next step
        }
        memHistory.update(from: inputs, count: inputs.count)
        headSum.update(from: sums, count: c)
        for i in spikeCounts.indices { spikes[i] = spikeCounts[i] }
    }
}
