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
