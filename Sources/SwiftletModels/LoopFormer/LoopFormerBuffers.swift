import Glibc

/// A growable float buffer from malloc: keeps its storage between calls (no allocation in steady
/// state) and reports an allocation failure as an error instead of trapping.
final class LoopFormerFloatBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>?
    private(set) var capacity = 0

    deinit { free(pointer) }

    /// Makes room for `count` floats; the contents are not preserved when it grows.
    func ensure(_ count: Int, what: String) throws(ModelError) -> UnsafeMutablePointer<Float> {
        if let pointer, count <= capacity { return pointer }
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        free(pointer)
        pointer = nil
        capacity = 0
        guard !overflow, let raw = malloc(bytes) else {
            throw ModelError(.budget, "cannot allocate \(what) (\(count) floats); use fewer loop steps or a shorter sequence")
        }
        let p = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer = p
        capacity = count
        return p
    }
}

/// One K and one V cache per (loop step, block), each [context, C]: the key/value projections of that
/// block's input at that step. Valid only for the trajectory that filled it.
struct LoopFormerKVLayout {
    let blocks: Int
    let context: Int
    let width: Int

    /// Floats needed for `steps` loop steps.
    func floats(steps: Int) -> Int? {
        let (a, o1) = steps.multipliedReportingOverflow(by: blocks * 2)
        let (b, o2) = a.multipliedReportingOverflow(by: context)
        let (c, o3) = b.multipliedReportingOverflow(by: width)
        return o1 || o2 || o3 ? nil : c
    }

    /// Offsets of K and V of (step, block) in the cache.
    @inline(__always)
    func offsets(step: Int, block: Int) -> (k: Int, v: Int) {
        let k = ((step * blocks + block) * 2) * context * width
        return (k, k + context * width)
    }
}
