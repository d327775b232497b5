/// BPE over one word: start from one token per byte and apply the merges by rank, lowest first (the
/// leftmost pair among equals), until no adjacent pair has a merge. A heap of candidate pairs and a
/// linked list of symbols keep a long word at O(n log n) (hostile text may be one word).
struct BytePairMerges: Sendable {
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    let table: [UInt64: UInt64]

    func apply(_ symbols: inout [Int32]) {
        let n = symbols.count
        guard n >= 2 else { return }
        var next = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = i + 1 < n ? Int32(i + 1) : -1 }
            c = n
        }
        var prev = [Int32](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = Int32(i - 1) }
            c = n
        }
        var heap = MinHeap()
        func rank(_ a: Int32, _ b: Int32) -> UInt64? {
            table[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
        }
        // Heap keys: rank << 32 | position of the pair's left symbol.
        for i in 0..<(n - 1) {
            if let r = rank(symbols[i], symbols[i + 1]) { heap.push((r & 0xFFFF_FFFF_0000_0000) | UInt64(i)) }
        }
        while let top = heap.pop() {
            let pos = Int(top & 0xFFFF_FFFF)
            let wanted = top >> 32
            guard symbols[pos] >= 0, next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            guard let r = rank(symbols[pos], symbols[right]), r >> 32 == wanted else { continue }
            symbols[pos] = Int32(truncatingIfNeeded: r & 0xFFFF_FFFF)
            symbols[right] = -1
            next[pos] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0, let r = rank(symbols[Int(prev[pos])], symbols[pos]) {
                heap.push((r & 0xFFFF_FFFF_0000_0000) | UInt64(prev[pos]))
            }
            if next[pos] >= 0, let r = rank(symbols[pos], symbols[Int(next[pos])]) {
                heap.push((r & 0xFFFF_FFFF_0000_0000) | UInt64(pos))
            }
        }
        symbols.removeAll { $0 < 0 }
    }
}

/// A binary min-heap of UInt64 keys.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ x: UInt64) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[parent] > items[i] else { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count && items[l] < items[m] { m = l }
            if r < items.count && items[r] < items[m] { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return first
    }
}
