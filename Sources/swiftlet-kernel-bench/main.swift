// swiftlet-kernel-bench: times MemoryFormer's memory layer against the dense OpenBLAS Linear of the
// same shape, per token, at a given batch (Benchmarks/memoryformer/bench.py drives it). Not part of
// the library products; build it with `swift build -c release --product swiftlet-kernel-bench`.
//
// Every iteration feeds fresh input rows (cycling through a pool), so the rows a hash selects are
// spread over the whole table as in a real decode; `--copies N` rotates N copies of each table (one
// per "layer") so that, as in a model, a table is not still cached from the previous token.

import CSwiftletKernels
import Glibc
import SwiftletKernels

struct Options {
    var tokens = [1, 128]
    var threads = 1
    var repeats = 7
    var copies = 1
    var storages: [MemoryTableStorage] = [.f32, .f16, .q8Row]
    var isa = KernelISA.detected
    var json = false
    var same = false
    var huge = false
    var only: Set<String> = []
}

func usage() -> Never {
    print(
        """
        usage: swiftlet-kernel-bench [--tokens 1,128] [--threads N] [--repeats N] [--copies N]
                                     [--storage f32,f16,q8,q4]
                                     [--isa portable|avx2|avx512|neon|neon-dotprod (default: the best here)]
                                     [--only layer,mlp,hash,dense] [--same-input] [--huge-pages] [--json]
        Prints the median over --repeats of µs per token for: one memory layer 512→512 (64 tables × 8
        bits, hash + gather), its hash alone, the dense Linear 512×512, the memory MLP pair
        (512→640 64×8, LayerNorm, 640→512 64×10), the dense pair of the same shapes, and the dense
        4× FFN pair (512→2048→512, activation not counted). --same-input repeats one input, so the
        same rows stay cached: the compute floor of the gather. --huge-pages asks for transparent huge
        pages on the tables (a model's tables are file mappings with 4 KiB pages).
        """)
    exit(2)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func value() -> String {
        guard let v = args.popFirst() else { usage() }
        return v
    }
    while let a = args.popFirst() {
        switch a {
        case "--tokens": o.tokens = value().split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 }
        case "--threads": o.threads = max(1, Int(value()) ?? 1)
        case "--repeats": o.repeats = max(1, Int(value()) ?? 7)
        case "--copies": o.copies = max(1, Int(value()) ?? 1)
        case "--storage":
            o.storages = value().split(separator: ",").map {
                switch $0 {
                case "f32": return .f32
                case "f16": return .f16
                case "q8": return .q8Row
                case "q4": return .q4Block
                default: usage()
                }
            }
        case "--isa":
            let name = value()
            guard let isa = KernelISA.available.first(where: { $0.description == name }) else { usage() }
            o.isa = isa
        case "--only": o.only = Set(value().split(separator: ",").map(String.init))
        case "--json": o.json = true
        case "--same-input": o.same = true
        case "--huge-pages": o.huge = true
        default: usage()
        }
    }
    if o.tokens.isEmpty { usage() }
    return o
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) * 1e6 + Double(t.tv_nsec) / 1e3
}

/// SplitMix64 values in [−1, 1).
struct Random {
    var state: UInt64
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}

/// Memory tables with random values in one storage; owns its bytes.
final class Table {
    let bytes: UnsafeMutableRawBufferPointer
    let table: MemoryTables

    static func allocate(_ count: Int) -> UnsafeMutableRawBufferPointer {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 2 << 20)
        if o.huge { _ = madvise(b.baseAddress, count, 14 /* MADV_HUGEPAGE */) }
        return b
    }

    init(tables: Int, bits: Int, out: Int, storage: MemoryTableStorage, seed: UInt64) throws {
        var rng = Random(state: seed)
        let rows = tables << bits
        switch storage {
        case .f32:
            bytes = Table.allocate(rows * out * 4)
            let f = bytes.bindMemory(to: Float.self)
            for i in 0..<(rows * out) { f[i] = 0.02 * rng.next() }
            table = try .f32(UnsafeRawBufferPointer(bytes), tables: tables, codeLength: bits, outFeatures: out)
        case .f16:
            bytes = Table.allocate(rows * out * 2)
            let h = bytes.bindMemory(to: UInt16.self)
            for i in 0..<(rows * out) { h[i] = Float16(0.02 * rng.next()).bitPattern }
            table = try .f16(UnsafeRawBufferPointer(bytes), tables: tables, codeLength: bits, outFeatures: out)
        case .q8Row:
            // As the converter lays it out: all int8 rows, then one float32 scale per row.
            bytes = Table.allocate(rows * out + rows * 4)
            for r in 0..<rows {
                bytes.storeBytes(of: Float(0.02 / 127), toByteOffset: rows * out + 4 * r, as: Float.self)
                for j in 0..<out {
                    bytes.storeBytes(of: Int8(127 * rng.next()), toByteOffset: r * out + j, as: Int8.self)
                }
            }
            let all = UnsafeRawBufferPointer(bytes)
            table = try .q8Row(
                values: UnsafeRawBufferPointer(rebasing: all[0..<(rows * out)]), rowStride: out,
                scales: UnsafeRawBufferPointer(rebasing: all[(rows * out)...]), scaleStride: 4,
                tables: tables, codeLength: bits, outFeatures: out)
        case .q4Block:
            // As the converter lays it out: all packed rows, then the block scales row by row.
            let rowBytes = MemoryTables.q4RowBytes(out)
            let blocks = MemoryTables.q4Blocks(out)
            bytes = Table.allocate(rows * rowBytes + rows * blocks * 4)
            for i in 0..<(rows * rowBytes) {
                bytes.storeBytes(
                    of: UInt8(truncatingIfNeeded: Int(8 * rng.next() + 8) * 17), toByteOffset: i, as: UInt8.self)
            }
            for i in 0..<(rows * blocks) {
                bytes.storeBytes(of: Float(0.02 / 8), toByteOffset: rows * rowBytes + 4 * i, as: Float.self)
            }
            let all = UnsafeRawBufferPointer(bytes)
            table = try .q4Block(
                values: UnsafeRawBufferPointer(rebasing: all[0..<(rows * rowBytes)]), rowStride: rowBytes,
                scales: UnsafeRawBufferPointer(rebasing: all[(rows * rowBytes)...]), scaleStride: 4 * blocks,
                tables: tables, codeLength: bits, outFeatures: out)
        }
    }

    deinit { bytes.deallocate() }
}

func floats(_ count: Int, _ rng: inout Random, scale: Float = 1) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
    for i in 0..<count { p[i] = scale * rng.next() }
    return p
}

let o = parseOptions()
let H = 512
let T = 64
let L = 8
let W = T * (L + 2)
let FFN = 4 * H
let pool = 4096 // input rows cycled through
var rng = Random(state: 42)
let inputs = floats(pool * H, &rng)
let middleInputs = floats(pool * W, &rng)
let maxTokens = o.tokens.max()!
let out = floats(maxTokens * FFN, &rng)
let middle = floats(maxTokens * FFN, &rng)
let dense512 = floats(H * H, &rng, scale: 0.05)
let bias512 = floats(FFN, &rng, scale: 0.01)
let dense640a = floats(H * W, &rng, scale: 0.05)
let dense640b = floats(W * H, &rng, scale: 0.05)
let ffnA = floats(H * FFN, &rng, scale: 0.05)
let ffnB = floats(FFN * H, &rng, scale: 0.05)
let lnWeight = floats(W, &rng)
let lnBias = floats(W, &rng, scale: 0.1)
let arena = Arena(initialBytes: 1 << 22)
let workers = WorkerPool(threads: o.threads)
// Kernels run at the level asked for (the helpers of `workers` run at the detected level).
swk_isa_set_cap(o.isa.rawValue)

struct Row {
    let name: String
    let storage: String
    let tokens: Int
    let median: Double
    let best: Double
}
nonisolated(unsafe) var rows: [Row] = []

/// Runs `body(inputOffsetRows)` over fresh inputs; returns (median, best) µs per token over repeats.
func measure(tokens: Int, _ body: (Int, Int) throws -> Void) rethrows -> (Double, Double) {
    // About 20 ms per repeat, at least 8 calls.
    var calls = 8
    let t0 = now()
    func offset(_ call: Int) -> Int { o.same ? 0 : (call * tokens) % (pool - tokens) }
    for i in 0..<calls { try body(i, offset(i)) }
    let each = max((now() - t0) / Double(calls), 1)
    calls = max(8, Int(20_000 / each))
    var perToken: [Double] = []
    var call = calls
    for _ in 0..<o.repeats {
        let start = now()
        for _ in 0..<calls {
            try body(o.same ? 0 : call, offset(call))
            call += 1
        }
        perToken.append((now() - start) / Double(calls * tokens))
    }
    perToken.sort()
    return (perToken[perToken.count / 2], perToken[0])
}

func record(_ name: String, _ storage: String, _ tokens: Int, _ r: (Double, Double)) {
    rows.append(Row(name: name, storage: storage, tokens: tokens, median: r.0, best: r.1))
    if !o.json {
        let label = "\(name) \(storage)".rightPadded(34)
        print("\(label) \(String(tokens).leftPadded(4)) tok  median \(fmt(r.0)) µs/token  (best \(fmt(r.1)))")
    }
}

func fmt(_ v: Double) -> String {
    let scaled = (v * 100).rounded() / 100
    return String(scaled).leftPadded(8)
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
    func rightPadded(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

func wanted(_ what: String) -> Bool { o.only.isEmpty || o.only.contains(what) }

do {
    for tokens in o.tokens {
        if wanted("dense") {
            record(
                "dense linear 512x512", "f32", tokens,
                measure(tokens: tokens) { _, row in
                    Kernels.linear(
                        inputs + row * H, rows: tokens, inFeatures: H, weight: dense512, bias: bias512,
                        outFeatures: H, into: out, pool: workers)
                })
            record(
                "dense pair 512-640-512", "f32", tokens,
                measure(tokens: tokens) { _, row in
                    Kernels.linear(
                        inputs + row * H, rows: tokens, inFeatures: H, weight: dense640a, bias: bias512,
                        outFeatures: W, into: middle, pool: workers)
                    Kernels.layerNorm(
                        middle, rows: tokens, cols: W, weight: lnWeight, bias: lnBias, eps: 1e-5, into: middle)
                    Kernels.linear(
                        middle, rows: tokens, inFeatures: W, weight: dense640b, bias: bias512, outFeatures: H,
                        into: out, pool: workers)
                })
            record(
                "dense ffn 512-2048-512", "f32", tokens,
                measure(tokens: tokens) { _, row in
                    Kernels.linear(
                        inputs + row * H, rows: tokens, inFeatures: H, weight: ffnA, bias: bias512,
                        outFeatures: FFN, into: middle, pool: workers)
                    Kernels.linear(
                        middle, rows: tokens, inFeatures: FFN, weight: ffnB, bias: bias512, outFeatures: H, into: out,
                        pool: workers)
                })
        }
        if wanted("hash") {
            let codes = arena.ints(maxTokens * T)
            let weights = arena.floats(maxTokens * T)
            try record(
                "hash 64x8", "-", tokens,
                measure(tokens: tokens) { _, row in
                    try Kernels.memoryHash(
                        inputs + row * H, rows: tokens, ldz: H, tables: T, codeLength: L,
                        codes: codes, weights: weights)
                })
            try record(
                "hash 64x10", "-", tokens,
                measure(tokens: tokens) { _, row in
                    try Kernels.memoryHash(
                        middleInputs + row * W, rows: tokens, ldz: W, tables: T, codeLength: L + 2,
                        codes: codes, weights: weights)
                })
            arena.reset()
        }
    }
    for storage in o.storages {
        let name = storage.description
        if wanted("layer") {
            let tables = try (0..<o.copies).map {
                try Table(tables: T, bits: L, out: H, storage: storage, seed: UInt64(7 + $0))
            }
            let codes = arena.ints(maxTokens * T)
            let weights = arena.floats(maxTokens * T)
            for tokens in o.tokens {
                try record(
                    "memory layer 512x512", name, tokens,
                    measure(tokens: tokens) { call, row in
                        let t = tables[call % tables.count].table
                        try Kernels.memoryHash(
                            inputs + row * H, rows: tokens, ldz: H, tables: T, codeLength: L,
                            codes: codes, weights: weights)
                        try Kernels.memoryGather(
                            codes: codes, weights: weights, rows: tokens, table: t, bias: bias512,
                            into: out, ldy: H, pool: workers)
                    })
            }
            arena.reset()
        }
        if wanted("mlp") {
            let first = try (0..<o.copies).map {
                try Table(tables: T, bits: L, out: W, storage: storage, seed: UInt64(100 + $0))
            }
            let second = try (0..<o.copies).map {
                try Table(tables: T, bits: L + 2, out: H, storage: storage, seed: UInt64(200 + $0))
            }
            let codes = arena.ints(maxTokens * T)
            let weights = arena.floats(maxTokens * T)
            for tokens in o.tokens {
                try record(
                    "memory pair 512-640-512", name, tokens,
                    measure(tokens: tokens) { call, row in
                        let a = first[call % first.count].table
                        let b = second[call % second.count].table
                        try Kernels.memoryHash(
                            inputs + row * H, rows: tokens, ldz: H, tables: T, codeLength: L,
                            codes: codes, weights: weights)
                        try Kernels.memoryGather(
                            codes: codes, weights: weights, rows: tokens, table: a, bias: bias512,
                            into: middle, ldy: W, pool: workers)
                        Kernels.layerNorm(
                            middle, rows: tokens, cols: W, weight: lnWeight, bias: lnBias, eps: 1e-5, into: middle)
                        try Kernels.memoryHash(
                            middle, rows: tokens, ldz: W, tables: T, codeLength: L + 2,
                            codes: codes, weights: weights)
                        try Kernels.memoryGather(
                            codes: codes, weights: weights, rows: tokens, table: b, bias: bias512,
                            into: out, ldy: H, pool: workers)
                    })
            }
            arena.reset()
        }
    }
} catch {
    print("error: \(error)")
    exit(1)
}

if o.json {
    let items = rows.map {
        "{\"name\": \"\($0.name)\", \"storage\": \"\($0.storage)\", \"tokens\": \($0.tokens), "
            + "\"median_us\": \($0.median), \"best_us\": \($0.best)}"
    }
    print("{\"threads\": \(o.threads), \"copies\": \(o.copies), \"isa\": \"\(o.isa)\", \"results\": [")
    print(items.joined(separator: ",\n"))
    print("]}")
}
