import Glibc
import SwiftletKernels

/// The LMUFormer computation on blocks of frames, with everything that carries over between blocks.
///
/// Only the five k=3 convolutions of the patch embedding look ahead (one frame each); everything
/// after them is causal. Each convolution keeps its two latest input rows; a step appends the new
/// rows to that history (plus, at the end of the input, the zero right pad at the convolution's own
/// input) and emits one output per row that has both neighbours, so output row n leaves the network
/// once input frame n + 5 is in. The residual around `rpe_conv` is the row aligned with its input.
/// A whole clip is one final step (the runner) or many steps (a stream); the results are the same.
///
/// All buffers are allocated at creation: a step allocates nothing. Activations are time-major
/// (`[rows, channels]`), so a block of frames goes through every product as one matrix.
final class LMUFormerEngine {
    let model: LMUFormerModel
    /// Most new frames per step, and most rows a step emits.
    let cap: Int
    let rowCap: Int

    // MARK: state (what a stream saves)
    var finished = false
    var framesIn = 0
    var rowsOut = 0
    /// Work done since the reset, FLOP (a dense multiply-add counts 2, a sparse row add 1 per element).
    var flops: Double = 0
    let held: UnsafeMutablePointer<Int> // [5] rows of history per convolution
    let stage: [UnsafeMutablePointer<Float>] // [5] convolution inputs, (cap + 8) rows each
    let resid: UnsafeMutablePointer<Float> // rows aligned with stage[4]: the residual stream
    let ownsResid: Bool
    let membranes: UnsafeMutablePointer<Float>
    /// Whole clips: the memory after the last step. Streams: the memory before the current block of
    /// `impulseLength` steps (see `Kernels.stateSpaceStream`).
    let memState: UnsafeMutablePointer<Float> // [depth, M]
    let memFresh: UnsafeMutablePointer<Bool> // [depth] memState is all zero
    /// Streams only: steps done in the current block, its inputs (newest last, from the end), and
    /// its free responses (derived from memState; recomputed after a restore).
    let streaming: Bool
    let memPosition: UnsafeMutablePointer<Int> // [depth]
    let memHistory: UnsafeMutablePointer<Float> // [depth, L]
    private let memFree: UnsafeMutablePointer<Float> // [depth, L, M] (streams)
    let memFreeReady: UnsafeMutablePointer<Bool> // [depth]
    let headSum: UnsafeMutablePointer<Double> // [C] Σ of the head inputs so far
    let spikes: UnsafeMutablePointer<Int> // per LIF layer
    let uActive: UnsafeMutablePointer<Int> // per block: steps with u > 0

    // MARK: scratch
    private let x, u, mem, ms, sp, hb, z, y, cm: UnsafeMutablePointer<Float>
    let arena: Arena
    /// Spike counts of the parts of a split LIF layer.
    private let partCounts: UnsafeMutablePointer<Int>
    /// The stream's or session's threads: the products and LIF layers split their columns over them
    /// (BLAS, for the memory scan, stays on one thread).
    private let pool: WorkerPool?
    private let threads: Int
    /// q8 weights and real-valued (`.dense`) inputs take the int8 × int8 products
    /// (`Kernels.fewRowsLinearInt8`: each row's inputs rounded to int8 with their own scale) where the
    /// CPU has int8 dot products; spikes and integer sums of spikes keep the exact float32 sums.
    private let int8: Bool
    private var squarings: [UnsafePointer<Float>?]
    private let lifOffset: [Int], lifWidth: [Int], lifThreshold: [Float]
    private let allocations: [UnsafeMutableRawPointer]

    /// `streaming`: the memory runs in its streaming form (no product with A per step; a block's
    /// free response computed once per `impulseLength` steps).
    init(model: LMUFormerModel, cap: Int, streaming: Bool, pool: WorkerPool?) {
        self.pool = pool
        threads = pool?.threads ?? 1
        int8 = Kernels.fewRowsInt8Native
        self.model = model
        self.cap = cap
        self.streaming = streaming
        rowCap = cap + LMUFormerModel.latencyFrames
        let c = model.dim
        let m = model.memory
        let hid = model.hidden
        var owned: [UnsafeMutableRawPointer] = []
        func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            owned.append(UnsafeMutableRawPointer(p))
            return p
        }
        let stageRows = cap + 8
        stage = (0..<5).map { floats(stageRows * model.convs[$0].inChannels) }
        ownsResid = model.variant == .membraneShortcut
        resid = ownsResid ? floats(stageRows * c) : stage[4]
        membranes = floats(model.membraneCount)
        memState = floats(model.depth * m)
        let l = model.impulseLength
        memHistory = floats(model.depth * l)
        memFree = floats(streaming ? model.depth * l * m : 0)
        x = floats(rowCap * c)
        u = floats(rowCap)
        mem = floats(rowCap * m)
        ms = floats(rowCap * m)
        sp = floats(rowCap * c)
        hb = floats(rowCap * c)
        z = floats(rowCap * hid)
        y = floats(rowCap * c)
        cm = floats(rowCap * c)
        held = .allocate(capacity: 5)
        owned.append(UnsafeMutableRawPointer(held))
        memFresh = .allocate(capacity: model.depth)
        owned.append(UnsafeMutableRawPointer(memFresh))
        memPosition = .allocate(capacity: model.depth)
        owned.append(UnsafeMutableRawPointer(memPosition))
        memFreeReady = .allocate(capacity: model.depth)
        owned.append(UnsafeMutableRawPointer(memFreeReady))
        headSum = .allocate(capacity: c)
        owned.append(UnsafeMutableRawPointer(headSum))
        spikes = .allocate(capacity: max(model.lifLayers.count, 1))
        owned.append(UnsafeMutableRawPointer(spikes))
        uActive = .allocate(capacity: model.depth)
        owned.append(UnsafeMutableRawPointer(uActive))
        partCounts = .allocate(capacity: threads)
        partCounts.initialize(repeating: 0, count: threads)
        owned.append(UnsafeMutableRawPointer(partCounts))
        allocations = owned
        squarings = [UnsafePointer<Float>?](repeating: nil, count: model.depth)
        lifOffset = model.lifLayers.map(\.offset)
        lifWidth = model.lifLayers.map(\.width)
        lifThreshold = model.lifLayers.map(\.threshold)
        // The memory scan's scratch, reserved now so that no step allocates.
        arena = Arena(initialBytes: 4 * (l * l + l * m) + 4 * Arena.alignment)
        reset()
    }

    deinit {
        for p in allocations { p.deallocate() }
    }

    /// Back to the start of a clip: zero history (the left pads), membranes, memory and sums.
    func reset() {
        for s in 0..<5 {
            held[s] = 1
            stage[s].update(repeating: 0, count: model.convs[s].inChannels)
        }
        if ownsResid { resid.update(repeating: 0, count: model.dim) }
        membranes.update(repeating: 0, count: model.membraneCount)
        memState.update(repeating: 0, count: model.depth * model.memory)
        memFresh.update(repeating: true, count: model.depth)
        memPosition.update(repeating: 0, count: model.depth)
        memHistory.update(repeating: 0, count: model.depth * model.impulseLength)
        memFreeReady.update(repeating: false, count: model.depth)
        headSum.update(repeating: 0, count: model.dim)
        spikes.update(repeating: 0, count: max(model.lifLayers.count, 1))
        uActive.update(repeating: 0, count: model.depth)
        finished = false
        framesIn = 0
        rowsOut = 0
        flops = 0
    }

    /// Runs `count ≤ cap` new frames (`frames`, `count × F`), and with `final` the end of the input.
    /// Writes one prediction row (`K` floats: the head of the running mean) per emitted frame to
    /// `out` and returns how many (at most `rowCap`); with `frameScores`, also the head of each
    /// frame alone (the per-frame logits word detection smooths). With `context`, the abort callback
    /// is polled between blocks; an abort there leaves the state mid-step (whole-clip runs reset
    /// anyway; streams pass nil and poll between steps).
    func process(
        _ frames: UnsafePointer<Float>?, count k: Int, final: Bool,
        into out: UnsafeMutablePointer<Float>, frameScores: UnsafeMutablePointer<Float>? = nil,
        context: ExecutionContext?
    ) throws(ModelError) -> Int {
        guard !finished else {
            throw ModelError(.state, "this clip was flushed; reset the stream to start a new one")
        }
        guard k >= 0, k <= cap, k == 0 || frames != nil else {
            throw ModelError(.internalError, "lmuformer: a step of \(k) frames (at most \(cap))")
        }
        let f = model.features
        let c = model.dim
        if k > 0 { (stage[0] + held[0] * f).update(from: frames!, count: k * f) }
        framesIn += k
        var incoming = k
        var tail = 0
        for s in 0..<5 {
            let cin = model.convs[s].inChannels
            let buf = stage[s]
            var total = held[s] + incoming
            if final {
                (buf + total * cin).update(repeating: 0, count: cin)
                total += 1
            }
            let n = max(0, total - 2)
            if n > 0 {
                if s < 4 {
                    patchStage(
                        s, input: buf, rows: n, into: stage[s + 1] + held[s + 1] * c,
                        resid: resid + held[s + 1] * c)
                } else {
                    conv(4, input: buf, rows: n, into: x)
                    let cv = model.convs[4]
                    if cv.lif >= 0 { lif(cv.lif, x, rows: n, ldx: c, scale: nil, shift: nil, into: x, ldy: c) }
                    // x_n = residual_n + rpe(…)_n; the residual of output row r is input row r + 1.
                    Kernels.add(x, resid + c, into: x, count: n * c)
                    tail = n
                }
            }
            if final {
                held[s] = 0
            } else if total > 2 {
                memmove(buf, buf + (total - 2) * cin, 2 * cin * MemoryLayout<Float>.stride)
                if s == 4 && ownsResid {
                    memmove(resid, resid + (total - 2) * c, 2 * c * MemoryLayout<Float>.stride)
                }
                held[s] = 2
            } else {
                held[s] = total
            }
            incoming = n
        }
        if final { finished = true }
        guard tail > 0 else { return 0 }
        try context?.checkAbort("after the patch embedding")
        for n in 0..<model.depth {
            block(n, rows: tail)
            try context?.checkAbort("after block \(n)")
        }
        head(rows: tail, into: out, frameScores: frameScores)
        rowsOut += tail
        return tail
    }

    // MARK: - Patch embedding

    /// Convolution `s < 4` and what follows it, writing the next convolution's input rows.
    private func patchStage(
        _ s: Int, input: UnsafeMutablePointer<Float>, rows n: Int,
        into dest: UnsafeMutablePointer<Float>, resid residRows: UnsafeMutablePointer<Float>
    ) {
        let cv = model.convs[s]
        let c = model.dim
        switch model.variant {
        case .plain:
            // conv → ReLU → BatchNorm.
            conv(s, input: input, rows: n, into: dest)
            Kernels.relu(dest, count: n * c)
            Kernels.scaleShift(
                dest, layout: .channelsLast, channels: c, length: n, scale: cv.bnScale!, shift: cv.bnShift)
        case .spiking:
            conv(s, input: input, rows: n, into: dest)
            lif(cv.lif, dest, rows: n, ldx: c, scale: nil, shift: nil, into: dest, ldy: c)
        case .membraneShortcut:
            if s < 3 {
                conv(s, input: input, rows: n, into: dest)
                lif(cv.lif, dest, rows: n, ldx: c, scale: nil, shift: nil, into: dest, ldy: c)
            } else {
                // conv3's output is the residual stream itself; BN3 → LIF3 only feed rpe_conv.
                conv(s, input: input, rows: n, into: residRows)
                lif(cv.lif, residRows, rows: n, ldx: c, scale: cv.bnScale, shift: cv.bnShift, into: dest, ldy: c)
            }
        }
    }

    /// `y[r] = bias + W₀·in[r] + W₁·in[r+1] + W₂·in[r+2]` for `r < n` (input rows r … r+2 are the
    /// previous, current and next frame of output r). Rows r … r+2 are contiguous and the weight is
    /// `[3·in, C]`, so output row r is one product over the `3·in` inputs from input row r on:
    /// overlapping rows with row stride `in`.
    private func conv(_ s: Int, input: UnsafeMutablePointer<Float>, rows n: Int, into out: UnsafeMutablePointer<Float>)
    {
        let cv = model.convs[s]
        let cin = cv.inChannels
        // Past the first convolution the spiking variants' inputs are spikes.
        let spikes = model.variant != .plain && s > 0
        let density =
            spikes ? Double(Kernels.countNonZero(input, rows: n + 2, cols: cin, ldx: cin)) / Double((n + 2) * cin) : 1
        product(
            input, rows: n, ldx: cin, inFeatures: 3 * cin, weight: cv.weight, bias: cv.bias, outFeatures: model.dim,
            into: out, accumulate: false, input: spikes ? .binary : .dense, density: density)
    }

    // MARK: - Blocks

    private func block(_ n: Int, rows: Int) {
        let b = model.blocks[n]
        let c = model.dim
        let m = model.memory
        let hid = model.hidden
        switch model.variant {
        case .plain:
            // u = ReLU(W_u x + b_u); m_t = A m_{t−1} + B u_t; h = ReLU(W_h [m; x] + b_h)
            inputProjection(b, x, rows: rows)
            Kernels.relu(u, count: rows)
            for r in 0..<rows where u[r] > 0 { uActive[n] += 1 }
            scan(n, rows: rows)
            linear(
                mem, rows: rows, inFeatures: m, weight: b.hWeight, bias: b.hBias, outFeatures: c, into: hb,
                accumulate: false, input: .dense)
            linear(
                x, rows: rows, inFeatures: c, weight: b.hWeight.offset(row: m), bias: nil, outFeatures: c, into: hb,
                accumulate: true, input: .dense)
            Kernels.relu(hb, count: rows * c)
            // x += BN(proj(h)) (folded); then the FFN: x += ReLU(BN(fc2(GELU(BN(fc1(x)))))).
            linear(
                hb, rows: rows, inFeatures: c, weight: b.projWeight, bias: b.projBias, outFeatures: c, into: x,
                accumulate: true, input: .dense)
            linear(
                x, rows: rows, inFeatures: c, weight: b.fc1Weight, bias: b.fc1Bias, outFeatures: hid, into: z,
                accumulate: false, input: .dense)
            columns(hid, work: 32 * rows * hid) { _, c0, c1 in
                for r in 0..<rows { Kernels.geluFast(z + r * hid + c0, count: c1 - c0) }
            }
            linear(
                z, rows: rows, inFeatures: hid, weight: b.fc2Weight, bias: b.fc2Bias, outFeatures: c, into: y,
                accumulate: false, input: .dense)
            Kernels.relu(y, count: rows * c)
            Kernels.add(x, y, into: x, count: rows * c)

        case .spiking:
            // The cell reads the residual stream itself: integer sums of spikes.
            spikingCell(n, x, input: .integer, rows: rows)
            linear(
                hb, rows: rows, inFeatures: c, weight: b.projWeight, bias: b.projBias, outFeatures: c, into: y,
                accumulate: false, input: .binary)
            lif(b.projLIF, y, rows: rows, ldx: c, scale: nil, shift: nil, into: y, ldy: c)
            Kernels.add(x, y, into: x, count: rows * c)
            linear(
                x, rows: rows, inFeatures: c, weight: b.fc1Weight, bias: b.fc1Bias, outFeatures: hid, into: z,
                accumulate: false, input: .integer)
            lif(b.fc1LIF, z, rows: rows, ldx: hid, scale: nil, shift: nil, into: z, ldy: hid)
            linear(
                z, rows: rows, inFeatures: hid, weight: b.fc2Weight, bias: b.fc2Bias, outFeatures: c, into: y,
                accumulate: false, input: .binary)
            lif(b.fc2LIF, y, rows: rows, ldx: c, scale: nil, shift: nil, into: y, ldy: c)
            Kernels.add(x, y, into: x, count: rows * c)

        case .membraneShortcut:
            // BN → LIF → product everywhere; the residual stream stays real-valued.
            lif(b.prevLIF, x, rows: rows, ldx: c, scale: b.prevScale, shift: b.prevShift, into: sp, ldy: c)
            spikingCell(n, sp, input: .binary, rows: rows)
            linear(
                hb, rows: rows, inFeatures: c, weight: b.projWeight, bias: b.projBias, outFeatures: c, into: x,
                accumulate: true, input: .binary)
            lif(b.fc1LIF, x, rows: rows, ldx: c, scale: b.fc1Scale, shift: b.fc1Shift, into: sp, ldy: c)
            linear(
                sp, rows: rows, inFeatures: c, weight: b.fc1Weight, bias: b.fc1Bias, outFeatures: hid, into: z,
                accumulate: false, input: .binary)
            lif(b.fc2LIF, z, rows: rows, ldx: hid, scale: b.fc2Scale, shift: b.fc2Shift, into: z, ldy: hid)
            linear(
                z, rows: rows, inFeatures: hid, weight: b.fc2Weight, bias: b.fc2Bias, outFeatures: c, into: x,
                accumulate: true, input: .binary)
        }
    }

    /// The spiking cell of block `n` on `src` (`input` says what its values are): u = LIF(src · w_u +
    /// b_u), the memory scan, m_s = LIF(BN(m)), then h = LIF(W_h [m_s; src] + b_h) into `hb`.
    private func spikingCell(_ n: Int, _ src: UnsafeMutablePointer<Float>, input: InputKind, rows: Int) {
        let b = model.blocks[n]
        let c = model.dim
        let m = model.memory
        inputProjection(b, src, rows: rows)
        lif(b.uLIF, u, rows: rows, ldx: 1, scale: nil, shift: nil, into: u, ldy: 1)
        scan(n, rows: rows)
        lif(b.mLIF, mem, rows: rows, ldx: m, scale: b.mScale, shift: b.mShift, into: ms, ldy: m)
        linear(
            ms, rows: rows, inFeatures: m, weight: b.hWeight, bias: b.hBias, outFeatures: c, into: hb,
            accumulate: false, input: .binary)
        linear(
            src, rows: rows, inFeatures: c, weight: b.hWeight.offset(row: m), bias: nil, outFeatures: c, into: hb,
            accumulate: true, input: input)
        lif(b.hLIF, hb, rows: rows, ldx: c, scale: nil, shift: nil, into: hb, ldy: c)
    }

    /// `u = src · w_u + b_u` (one value per row).
    private func inputProjection(_ b: LMUFormerModel.Block, _ src: UnsafeMutablePointer<Float>, rows: Int) {
        let c = model.dim
        BLAS.sgemv(trans: false, rows: rows, cols: c, alpha: 1, a: src, lda: c, x: b.uWeight, beta: 0, y: u)
        for r in 0..<rows { u[r] += b.uBias }
        flops += Double(2 * rows * c)
    }

    /// The memory of block `n` for `rows` steps of `u`, into `mem`.
    private func scan(_ n: Int, rows: Int) {
        let b = model.blocks[n]
        let m = model.memory
        let l = model.impulseLength
        if streaming {
            if squarings[n] == nil { squarings[n] = model.squarings(block: n) }
            Kernels.stateSpaceStream(
                inputs: u, steps: rows, stateSize: m, impulse: b.impulse, impulseLength: l,
                powers: squarings[n]!, start: memState + n * m, startIsZero: &memFresh[n],
                position: &memPosition[n], history: memHistory + n * l, free: memFree + n * l * m,
                freeReady: &memFreeReady[n], into: mem)
            flops += Double(2 * rows * (m * m + m))
            return
        }
        let fresh = memFresh[n]
        let minBlock = 8
        // The squarings only serve blocks that start from a non-zero state.
        var power: UnsafePointer<Float>? = nil
        if fresh ? rows >= l + minBlock : rows >= minBlock {
            if squarings[n] == nil { squarings[n] = model.squarings(block: n) }
            power = squarings[n]
        }
        Kernels.stateSpaceScan(
            inputs: u, steps: rows, a: b.a, b: b.b, stateSize: m, impulse: b.impulse, impulseLength: l,
            squarings: power, squaringCount: model.squaringCount, minBlockSteps: minBlock,
            state: memState + n * m, stateIsZero: fresh, into: mem, scratch: arena)
        memFresh[n] = false
        flops += Double(2 * rows * (m * m + m))
    }

    // MARK: - Head

    /// Per row: add the head input to the running sum; the prediction is the head of the mean (and,
    /// with `frameScores`, the head of the row itself).
    private func head(rows: Int, into out: UnsafeMutablePointer<Float>, frameScores: UnsafeMutablePointer<Float>?) {
        let c = model.dim
        var input = x
        if model.headLIF >= 0 {
            lif(model.headLIF, x, rows: rows, ldx: c, scale: model.headScale, shift: model.headShift, into: sp, ldy: c)
            input = sp
        }
        for r in 0..<rows {
            let row = input + r * c
            let mean = cm + r * c
            let count = Double(rowsOut + r + 1)
            for i in 0..<c {
                headSum[i] += Double(row[i])
                mean[i] = Float(headSum[i] / count)
            }
        }
        linear(
            cm, rows: rows, inFeatures: c, weight: model.headWeight, bias: model.headBias,
            outFeatures: model.classes, into: out, accumulate: false, input: .dense)
        if let frameScores {
            linear(
                input, rows: rows, inFeatures: c, weight: model.headWeight, bias: model.headBias,
                outFeatures: model.classes, into: frameScores, accumulate: false,
                input: model.headLIF >= 0 ? .binary : .dense)
        }
    }

    // MARK: - Products

    enum InputKind {
        case dense
        /// Exactly 0 or 1.
        case binary
        /// Mostly zero values (the spiking residual stream: small integer sums of spikes).
        case integer
    }

    /// Whether summing the selected weight rows beats the dense product, from the fraction of
    /// non-zero inputs. Measured on a 2-core Zen 4 with the AVX-512 kernels: a dense product streams
    /// its weights at close to the memory bandwidth (one row) or runs at close to the FMA peak (a
    /// chunk or a clip), while the sums read scattered weight rows at about half that rate; for one
    /// or two rows the sums still win up to ~60 % density, for more rows up to ~30 %.
    @inline(__always)
    private func useSparse(density: Double, rows: Int) -> Bool {
        density < (rows <= 2 ? 0.6 : 0.3)
    }

    /// Below this many multiply-adds a product or LIF layer runs on one thread (a split costs a few
    /// microseconds).
    static let parallelWork = 1 << 19

    /// Runs `body(part, c0, c1)` over ranges of the columns `0..<n` (multiples of 16 wide), on the
    /// step's threads when `work` is large enough. Parts write disjoint columns.
    @inline(__always)
    private func columns(_ n: Int, work: Int, _ body: (_ part: Int, _ c0: Int, _ c1: Int) -> Void) {
        let parts = threads > 1 && work >= Self.parallelWork ? min(threads, n / 16) : 1
        guard parts > 1 else {
            body(0, 0, n)
            return
        }
        let step = ((n + parts - 1) / parts + 15) / 16 * 16
        pool!.run(parts: parts) { p in
            let c0 = min(n, p * step)
            let c1 = min(n, c0 + step)
            if c0 < c1 { body(p, c0, c1) }
        }
    }

    /// `out[rows, n] (+)= bias + src · w` with `w` input-major `[k, n]` (row stride n) and `src` rows `ldx` apart (`ldx`
    /// may be less than `k`: the convolutions' overlapping rows). Inputs that are mostly zero go
    /// through the sums of selected weight rows; `density` (the fraction of non-zero inputs) is
    /// counted here unless given.
    private func product(
        _ src: UnsafePointer<Float>, rows: Int, ldx: Int, inFeatures k: Int, weight w: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures n: Int, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool, input: InputKind, density given: Double? = nil
    ) {
        var density = 1.0
        if input != .dense {
            density =
                given ?? Double(Kernels.countNonZero(src, rows: rows, cols: k, ldx: ldx)) / Double(max(rows * k, 1))
        }
        let sparse = input != .dense && useSparse(density: density, rows: rows)
        var active = 0
        columns(n, work: Int(Double(rows * k * n) * (sparse ? density : 1))) { part, c0, c1 in
            let wc = w.offset(row: 0, column: c0)
            let b = bias.map { $0 + c0 }
            if sparse {
                let a = Kernels.sparseInputLinear(
                    src, rows: rows, inFeatures: k, ldx: ldx, weight: wc, bias: b,
                    outFeatures: c1 - c0, into: out + c0, ldy: n,
                    accumulate: accumulate, binary: input == .binary)
                if part == 0 { active = a }
            } else if !(int8 && input == .dense
                && Kernels.fewRowsLinearInt8(
                    src, rows: rows, inFeatures: k, ldx: ldx, weight: wc, bias: b, outFeatures: c1 - c0,
                    into: out + c0, ldy: n, accumulate: accumulate))
            {
                Kernels.fewRowsLinear(
                    src, rows: rows, inFeatures: k, ldx: ldx, weight: wc, bias: b, outFeatures: c1 - c0,
                    into: out + c0, ldy: n, accumulate: accumulate)
            }
        }
        flops += sparse ? Double(active * n * (input == .binary ? 1 : 2)) : Double(2 * rows * k * n)
    }

    /// `out[rows, outFeatures] (+)= src · w + bias`, with `w` input-major `[in, out]`.
    @inline(__always)
    private func linear(
        _ src: UnsafePointer<Float>, rows: Int, inFeatures: Int, weight: LinearWeights,
        bias: UnsafePointer<Float>?, outFeatures: Int, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool, input: InputKind
    ) {
        product(
            src, rows: rows, ldx: inFeatures, inFeatures: inFeatures, weight: weight, bias: bias,
            outFeatures: outFeatures, into: out, accumulate: accumulate, input: input)
    }

    private func lif(
        _ layer: Int, _ src: UnsafePointer<Float>, rows: Int, ldx: Int, scale: UnsafePointer<Float>?,
        shift: UnsafePointer<Float>?, into dst: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        let width = lifWidth[layer]
        let membrane = membranes + lifOffset[layer]
        let threshold = lifThreshold[layer]
        let counts = partCounts
        columns(width, work: 16 * rows * width) { part, c0, c1 in
            counts[part] = Kernels.lif(
                src + c0, rows: rows, cols: c1 - c0, ldx: ldx, scale: scale.map { $0 + c0 },
                shift: shift.map { $0 + c0 }, membrane: membrane + c0, threshold: threshold,
                into: dst + c0, ldy: ldy)
        }
        for p in 0..<threads {
            spikes[layer] += counts[p]
            counts[p] = 0
        }
    }

    // MARK: - Statistics

    /// Spike rate of every LIF layer so far (spikes per neuron per frame).
    func spikeRates() -> [Double] {
        let frames = Double(max(rowsOut, 1))
        return (0..<lifWidth.count).map { Double(spikes[$0]) / (frames * Double(lifWidth[$0])) }
    }

    /// Fraction of frames whose LMU input u was non-zero, per block.
    func uActiveFractions() -> [Double] {
        let frames = Double(max(rowsOut, 1))
        return model.blocks.indices.map { n in
            let count = model.variant == .plain ? uActive[n] : spikes[model.blocks[n].uLIF]
            return Double(count) / frames
        }
    }
}
