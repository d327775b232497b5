// libFuzzer harness for the checkpoint readers of SwiftletConvert (Sources/SwiftletConvert/Checkpoint):
// torch.save zip archives (zip walk, CRC-32, restricted unpickler, storages and views), safetensors,
// and .npy arrays. It is compiled together with those sources into one module
// (`swiftc -parse-as-library -sanitize=fuzzer,address`, see the Makefile), so it needs no SwiftPM
// product and reaches internal types.
//
// Input: the bytes of a checkpoint file, as is. The custom mutator keeps archives consistent: it
// mutates one zip entry (usually data.pkl) and rebuilds the archive with correct sizes, offsets and
// CRC-32s, or mutates the safetensors JSON header and rewrites its length, or mutates bytes and then
// fixes the CRC-32s.
import Foundation

@_silgen_name("LLVMFuzzerMutate")
func LLVMFuzzerMutate(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int) -> Int

/// Elements the harness converts per input (a hostile file may declare more than it holds).
private let elementBudget = 1 << 24

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpointInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // No copy: reads past the end hit the fuzzer's exact-size buffer, where AddressSanitizer sees them.
    let bytes = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: data), count: size, deallocator: .none)
    if size >= 6, data[0] == 0x93, data[1] == UInt8(ascii: "N") {
        if let array = try? NPYArray(fileBytes: Array(bytes)) {
            precondition(array.bytes.count == array.elementCount * array.dtype.byteSize, "npy byte count")
        }
        return 0
    }
    guard let checkpoint = try? CheckpointReader.read(data: bytes) else { return 0 }
    var spent = 0
    for tensor in checkpoint.tensors {
        let count = tensor.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        precondition(
            count == tensor.elementCount, "tensor '\(tensor.name)': \(count) elements for \(tensor.bytes.count) bytes")
        precondition(checkpoint[tensor.name] != nil, "tensor '\(tensor.name)' missing from the index")
        spent += tensor.elementCount
        if spent > elementBudget { break }
        switch tensor.dtype {
        case .complex64:
            let parts = try? tensor.complexParts()
            precondition(parts == nil || parts!.real.count == tensor.elementCount)
        case .i64, .i32, .i16, .i8, .u8, .bool:
            _ = try? tensor.int64s()
            _ = try? tensor.floats()
        default:
            let values = try? tensor.floats()
            precondition(values == nil || values!.count == tensor.elementCount)
        }
    }
    return 0
}

// MARK: - Structure-aware mutator

private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }
}

private func le(_ b: [UInt8], _ at: Int, _ width: Int) -> Int? {
    guard at >= 0, width <= 8, at <= b.count - width else { return nil }
    var v: UInt64 = 0
    for i in (0..<width).reversed() { v = v << 8 | UInt64(b[at + i]) }
    return v > UInt64(Int.max) ? nil : Int(v)
}

private func put(_ b: inout [UInt8], _ at: Int, _ value: Int, _ width: Int) {
    var v = UInt64(truncatingIfNeeded: value)
    for i in 0..<width {
        b[at + i] = UInt8(truncatingIfNeeded: v)
        v >>= 8
    }
}

private func append(_ b: inout [UInt8], _ value: Int, _ width: Int) {
    var v = UInt64(truncatingIfNeeded: value)
    for _ in 0..<width {
        b.append(UInt8(truncatingIfNeeded: v))
        v >>= 8
    }
}

/// One entry of a plain (not zip64) archive, located through its central directory record.
private struct ZipEntry {
    var central: [UInt8] // the 46-byte fixed part of the central record
    var name: [UInt8]
    var centralExtra: [UInt8]
    var comment: [UInt8]
    var local: [UInt8] // the 30-byte fixed part of the local header
    var localExtra: [UInt8]
    var content: [UInt8]
}

private func parseZip(_ b: [UInt8]) -> [ZipEntry]? {
    guard b.count >= 22 else { return nil }
    var end = -1
    for at in stride(from: b.count - 22, through: max(0, b.count - 22 - 0xFFFF), by: -1)
    where b[at] == 0x50 && b[at + 1] == 0x4B && b[at + 2] == 5 && b[at + 3] == 6 {
        end = at
        break
    }
    guard end >= 0, let count = le(b, end + 10, 2), let dirSize = le(b, end + 12, 4),
        let dirOffset = le(b, end + 16, 4), count < 0xFFFF, dirOffset <= b.count, dirSize <= b.count - dirOffset
    else { return nil }
    var entries: [ZipEntry] = []
    var pos = dirOffset
    for _ in 0..<count {
        guard pos <= b.count - 46, le(b, pos, 4) == 0x0201_4B50, let nl = le(b, pos + 28, 2),
            let el = le(b, pos + 30, 2), let cl = le(b, pos + 32, 2), pos + 46 + nl + el + cl <= b.count,
            let size = le(b, pos + 20, 4), let localAt = le(b, pos + 42, 4), size != 0xFFFF_FFFF,
            localAt <= b.count - 30, le(b, localAt, 4) == 0x0403_4B50,
            let lnl = le(b, localAt + 26, 2), let lel = le(b, localAt + 28, 2)
        else { return nil }
        let dataAt = localAt + 30 + lnl + lel
        guard dataAt <= b.count, size <= b.count - dataAt else { return nil }
        entries.append(
            ZipEntry(
                central: Array(b[pos..<pos + 46]), name: Array(b[pos + 46..<pos + 46 + nl]),
                centralExtra: Array(b[pos + 46 + nl..<pos + 46 + nl + el]),
                comment: Array(b[pos + 46 + nl + el..<pos + 46 + nl + el + cl]),
                local: Array(b[localAt..<localAt + 30]),
                localExtra: Array(b[localAt + 30 + lnl..<dataAt]),
                content: Array(b[dataAt..<dataAt + size])))
        pos += 46 + nl + el + cl
    }
    return entries
}

/// Writes the entries as a stored archive with correct sizes, offsets and CRC-32s.
private func buildZip(_ entries: [ZipEntry]) -> [UInt8] {
    var out: [UInt8] = []
    var offsets: [Int] = []
    var crcs: [UInt32] = []
    for e in entries {
        let crc = ZipCRC32.checksum(e.content)
        crcs.append(crc)
        offsets.append(out.count)
        var local = e.local
        put(&local, 14, Int(crc), 4)
        put(&local, 18, e.content.count, 4)
        put(&local, 22, e.content.count, 4)
        put(&local, 26, e.name.count, 2)
        put(&local, 28, e.localExtra.count, 2)
        out += local + e.name + e.localExtra + e.content
    }
    let dirOffset = out.count
    for (i, e) in entries.enumerated() {
        var central = e.central
        put(&central, 16, Int(crcs[i]), 4)
        put(&central, 20, e.content.count, 4)
        put(&central, 24, e.content.count, 4)
        put(&central, 28, e.name.count, 2)
        put(&central, 30, e.centralExtra.count, 2)
        put(&central, 32, e.comment.count, 2)
        put(&central, 42, offsets[i], 4)
        out += central + e.name + e.centralExtra + e.comment
    }
    let dirSize = out.count - dirOffset
    append(&out, 0x0605_4B50, 4)
    append(&out, 0, 4)
    append(&out, entries.count, 2)
    append(&out, entries.count, 2)
    append(&out, dirSize, 4)
    append(&out, dirOffset, 4)
    append(&out, 0, 2)
    return out
}

/// Recomputes the CRC-32 of every entry whose records are intact (after a byte-level mutation).
private func fixCRCs(_ b: inout [UInt8]) {
    guard b.count >= 22 else { return }
    for at in stride(from: b.count - 22, through: max(0, b.count - 22 - 0xFFFF), by: -1)
    where b[at] == 0x50 && b[at + 1] == 0x4B && b[at + 2] == 5 && b[at + 3] == 6 {
        guard let count = le(b, at + 10, 2), var pos = le(b, at + 16, 4) else { return }
        for _ in 0..<count {
            guard pos <= b.count - 46, le(b, pos, 4) == 0x0201_4B50, let nl = le(b, pos + 28, 2),
                let el = le(b, pos + 30, 2), let cl = le(b, pos + 32, 2), let size = le(b, pos + 20, 4),
                let localAt = le(b, pos + 42, 4), localAt <= b.count - 30, let lnl = le(b, localAt + 26, 2),
                let lel = le(b, localAt + 28, 2)
            else { return }
            let dataAt = localAt + 30 + lnl + lel
            if dataAt <= b.count, size <= b.count - dataAt {
                let crc = ZipCRC32.checksum(Array(b[dataAt..<dataAt + size]))
                put(&b, localAt + 14, Int(crc), 4)
                put(&b, pos + 16, Int(crc), 4)
            }
            pos += 46 + nl + el + cl
        }
        return
    }
}

/// Runs libFuzzer's byte mutations on `bytes`, letting them grow up to `room` extra bytes.
private func mutateBytes(_ bytes: [UInt8], room: Int) -> [UInt8] {
    var buffer = bytes + [UInt8](repeating: 0, count: max(room, 1))
    let n = buffer.withUnsafeMutableBufferPointer { LLVMFuzzerMutate($0.baseAddress!, bytes.count, $0.count) }
    return Array(buffer[0..<n])
}

@_cdecl("LLVMFuzzerCustomMutator")
public func fuzzCheckpointMutator(
    _ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32
) -> Int {
    var rng = SplitMix(state: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    var output: [UInt8]? = nil
    let roll = rng.below(100)

    if input.starts(with: [0x50, 0x4B, 3, 4]), roll < 70, var entries = parseZip(input), !entries.isEmpty {
        // One entry's content mutated (data.pkl most of the time), the archive rebuilt around it.
        let pickle = entries.firstIndex { $0.name.count >= 8 && Array($0.name.suffix(8)) == Array("data.pkl".utf8) }
        let i = pickle != nil && rng.below(100) < 75 ? pickle! : rng.below(entries.count)
        let room = maxSize - size
        if room > 0 {
            entries[i].content = mutateBytes(entries[i].content, room: room)
            if rng.below(100) < 5 { entries.remove(at: rng.below(entries.count)) }
            output = buildZip(entries)
        }
    } else if roll < 60, size >= 8, let n = le(input, 0, 8), n <= size - 8, input.count > 8,
        input[8] == UInt8(ascii: "{")
    {
        // The safetensors JSON header mutated, its length rewritten, the data section kept.
        let header = mutateBytes(Array(input[8..<8 + n]), room: max(0, maxSize - size))
        var out: [UInt8] = []
        append(&out, header.count, 8)
        out += header + input[(8 + n)...]
        output = out
    }
    if let out = output, out.count <= maxSize {
        out.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: $0.count) }
        return out.count
    }
    let n = LLVMFuzzerMutate(data, size, maxSize)
    var bytes = Array(UnsafeBufferPointer(start: data, count: n))
    if bytes.starts(with: [0x50, 0x4B]), rng.below(100) < 90 {
        fixCRCs(&bytes)
        bytes.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: n) }
    }
    return n
}
