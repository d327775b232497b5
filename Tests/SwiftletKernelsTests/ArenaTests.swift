import Testing

@testable import SwiftletKernels

@Suite struct ArenaTests {
    /// A run shaped like a model pass: many buffers of various sizes, some borrowed and given back.
    private func run(_ arena: Arena, scale: Int) -> [UnsafeMutableRawPointer] {
        var pointers: [UnsafeMutableRawPointer] = []
        for i in 1...40 {
            let f = arena.floats(i * 37 * scale)
            f[0] = 1
            f[i * 37 * scale - 1] = 2 // the whole range must be writable
            pointers.append(UnsafeMutableRawPointer(f))
            let mark = arena.mark()
            let scratch = arena.ints(i * 1000 * scale)
            scratch[i * 1000 * scale - 1] = 7
            arena.release(to: mark)
        }
        pointers.append(UnsafeMutableRawPointer(arena.floats(300_000 * scale)))
        return pointers
    }

    @Test func buffersAreAlignedAndDisjoint() {
        let arena = Arena()
        let sizes = [1, 3, 17, 16, 100, 5, 70_000, 2]
        var ranges: [(Int, Int)] = []
        for n in sizes {
            let p = arena.floats(n)
            let address = Int(bitPattern: p)
            #expect(address % Arena.alignment == 0)
            ranges.append((address, address + n * 4))
        }
        for i in 0..<ranges.count {
            for j in (i + 1)..<ranges.count {
                #expect(ranges[i].1 <= ranges[j].0 || ranges[j].1 <= ranges[i].0, "buffers \(i) and \(j) overlap")
            }
        }
        #expect(Int(bitPattern: arena.ints(3)) % Arena.alignment == 0)
    }

    @Test func steadyStateAllocatesNothing() {
        let arena = Arena()
        _ = run(arena, scale: 1)
        #expect(arena.chunkAllocations > 1, "the first run should have needed several chunks")
        #expect(arena.chunkCount > 1)
        arena.reset()
        #expect(arena.chunkCount == 1, "reset must coalesce the chunks")
        let afterFirst = arena.chunkAllocations
        let capacity = arena.capacityBytes
        for _ in 0..<3 {
            _ = run(arena, scale: 1)
            arena.reset()
        }
        #expect(arena.chunkAllocations == afterFirst)
        #expect(arena.capacityBytes == capacity)
        // A smaller run fits as well; a larger one grows once more and then is steady again.
        _ = run(arena, scale: 1)
        arena.reset()
        #expect(arena.chunkAllocations == afterFirst)
        _ = run(arena, scale: 3)
        arena.reset()
        let afterLarge = arena.chunkAllocations
        #expect(afterLarge > afterFirst)
        _ = run(arena, scale: 3)
        arena.reset()
        #expect(arena.chunkAllocations == afterLarge)
        #expect(arena.chunkCount == 1)
        // After coalescing, identical runs hand out identical addresses.
        let first = run(arena, scale: 3)
        arena.reset()
        #expect(run(arena, scale: 3) == first)
    }

    @Test func identicalRunsReuseIdenticalAddresses() {
        let arena = Arena(initialBytes: 4 << 20)
        #expect(arena.chunkAllocations == 1)
        let first = run(arena, scale: 1)
        arena.reset()
        let second = run(arena, scale: 1)
        #expect(first == second)
        #expect(arena.chunkAllocations == 1)
    }

    @Test func releaseGivesMemoryBack() {
        let arena = Arena()
        let a = arena.floats(10)
        let mark = arena.mark()
        let b = arena.floats(1000)
        arena.release(to: mark)
        let c = arena.floats(1000)
        #expect(b == c)
        #expect(a != c)
    }

    @Test func reserveMakesRoomUpFront() throws {
        let arena = Arena()
        try arena.reserve(bytes: 1 << 20)
        let count = arena.chunkAllocations
        _ = arena.floats((1 << 20) / 4)
        #expect(arena.chunkAllocations == count)
        #expect(throws: KernelError.self) { try arena.reserve(bytes: Int.max) }
    }

    @Test func zeroAndNegativeCountsAreHarmless() {
        let arena = Arena()
        let p = arena.floats(0)
        let q = arena.floats(-5)
        let r = arena.floats(1)
        #expect(Int(bitPattern: p) % Arena.alignment == 0)
        r[0] = 1
        _ = q
    }
}
