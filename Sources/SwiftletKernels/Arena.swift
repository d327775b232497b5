import Glibc

/// Per-session scratch memory: a bump allocator handing out 64-byte aligned, uninitialised buffers.
///
/// A run allocates what it needs with ``floats(_:)`` / ``ints(_:)`` and calls ``reset()`` when done.
/// When a request does not fit, a new chunk is added; ``reset()`` then replaces all chunks by one
/// chunk as large as all of them together, so a second run of the same size allocates nothing.
/// ``mark()`` / ``release(to:)`` let a kernel borrow scratch and give it back within a run.
///
/// Pointers stay valid until the next ``reset()`` or ``release(to:)`` that precedes them.
/// An arena belongs to one thread at a time.
public final class Arena {
    /// Alignment of every buffer handed out, in bytes (a cache line, and enough for any SIMD type).
    public static let alignment = 64
    private static let minimumChunkBytes = 64 * 1024

    private struct Chunk {
        let base: UnsafeMutableRawPointer
        let capacity: Int
    }

    /// A position in the arena, returned by ``mark()``.
    public struct Mark: Equatable, Sendable {
        fileprivate let chunk: Int
        fileprivate let offset: Int
    }

    private var chunks: [Chunk] = []
    private var current = 0
    private var offset = 0
    /// Highest chunk index touched since the last reset: more than 0 means the run needed several.
    private var highestChunkUsed = 0

    /// Total bytes held by the arena.
    public private(set) var capacityBytes = 0
    /// How many chunks the arena has allocated over its lifetime (lets tests prove a steady state).
    public private(set) var chunkAllocations = 0

    /// Creates an arena, allocating `initialBytes` up front when positive.
    /// An allocation failure here is deferred: the first request that needs memory retries it.
    public init(initialBytes: Int = 0) {
        if initialBytes > 0 { _ = try? reserve(bytes: initialBytes) }
    }

    deinit {
        for chunk in chunks { free(chunk.base) }
    }

    /// Number of chunks currently held (1 after a reset that followed a multi-chunk run).
    public var chunkCount: Int { chunks.count }

    /// Bytes handed out in the current chunk (excluding earlier chunks); mostly useful for diagnostics.
    public var bytesInUse: Int { offset }

    /// Ensures that the next `bytes` bytes requested fit without a new allocation, allocating a chunk
    /// now if needed. Lets a session fail cleanly on an oversized input instead of trapping later.
    public func reserve(bytes: Int) throws(KernelError) {
        guard bytes > 0 else { return }
        let rounded = try Self.roundUp(bytes)
        if fitsSomewhere(rounded) { return }
        try appendChunk(minimum: rounded)
        current = chunks.count - 1
        offset = 0
        highestChunkUsed = max(highestChunkUsed, current)
    }

    /// `count` uninitialised floats, 64-byte aligned. Traps only if the system is out of memory
    /// (like `Array`); use ``reserve(bytes:)`` beforehand to fail gracefully instead.
    public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        raw(bytes: Self.byteCount(count, MemoryLayout<Float>.stride)).bindMemory(
            to: Float.self, capacity: max(count, 0))
    }

    /// `count` uninitialised 32-bit integers, 64-byte aligned. Same failure rule as ``floats(_:)``.
    public func ints(_ count: Int) -> UnsafeMutablePointer<Int32> {
        raw(bytes: Self.byteCount(count, MemoryLayout<Int32>.stride)).bindMemory(
            to: Int32.self, capacity: max(count, 0))
    }

    /// `bytes` uninitialised bytes, 64-byte aligned. Same failure rule as ``floats(_:)``.
    public func raw(bytes: Int) -> UnsafeMutableRawPointer {
        let rounded: Int
        do { rounded = try Self.roundUp(max(bytes, 0)) } catch {
            fatalError("Arena: request of \(bytes) bytes overflows")
        }
        if chunks.isEmpty || offset + rounded > chunks[current].capacity {
            if !advanceToFittingChunk(rounded) {
                do { try appendChunk(minimum: rounded) } catch {
                    fatalError("Arena: \(error)")
                }
                current = chunks.count - 1
                offset = 0
            }
            highestChunkUsed = max(highestChunkUsed, current)
        }
        let pointer = chunks[current].base + offset
        offset += rounded
        return pointer
    }

    /// The current position, to hand back to ``release(to:)``.
    public func mark() -> Mark { Mark(chunk: current, offset: offset) }

    /// Frees everything allocated since `mark` (which must come from this arena, since the last reset).
    public func release(to mark: Mark) {
        // A mark from before a coalescing reset may name a chunk that no longer exists: ignore it.
        guard mark.chunk < max(chunks.count, 1) else { return }
        current = mark.chunk
        offset = mark.offset
    }

    /// Frees everything at once, in O(1). If the run just ended needed more than one chunk, the chunks
    /// are replaced by a single one of their combined size, so the same run allocates nothing next time.
    public func reset() {
        if highestChunkUsed > 0 {
            let total = capacityBytes
            for chunk in chunks { free(chunk.base) }
            chunks.removeAll(keepingCapacity: true)
            capacityBytes = 0
            // If the combined chunk cannot be had, start empty: the next run allocates on demand.
            try? appendChunk(minimum: total)
        }
        current = 0
        offset = 0
        highestChunkUsed = 0
    }

    // MARK: - Internals

    private static func byteCount(_ count: Int, _ stride: Int) -> Int {
        let (bytes, overflow) = max(count, 0).multipliedReportingOverflow(by: stride)
        if overflow { fatalError("Arena: request of \(count) elements overflows") }
        return bytes
    }

    private static func roundUp(_ bytes: Int) throws(KernelError) -> Int {
        let (sum, overflow) = bytes.addingReportingOverflow(alignment - 1)
        if overflow { throw .outOfMemory(bytes: bytes) }
        return sum & ~(alignment - 1)
    }

    private func fitsSomewhere(_ rounded: Int) -> Bool {
        if !chunks.isEmpty && offset + rounded <= chunks[current].capacity { return true }
        return chunks.count > current + 1 && chunks[(current + 1)...].contains { $0.capacity >= rounded }
    }

    /// Moves to a later chunk (all of them are free) that can hold `rounded` bytes.
    private func advanceToFittingChunk(_ rounded: Int) -> Bool {
        var index = current + 1
        while index < chunks.count {
            if chunks[index].capacity >= rounded {
                current = index
                offset = 0
                return true
            }
            index += 1
        }
        return false
    }

    private func appendChunk(minimum: Int) throws(KernelError) {
        // Grow geometrically so that a run needing many small chunks converges quickly.
        let size = max(minimum, Self.minimumChunkBytes, capacityBytes)
        var pointer: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&pointer, Self.alignment, size) == 0, let base = pointer else {
            throw .outOfMemory(bytes: size)
        }
        chunks.append(Chunk(base: base, capacity: size))
        capacityBytes += size
        chunkAllocations += 1
    }
}
