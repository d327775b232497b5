import Glibc

/// A growable float buffer from malloc: keeps its storage between calls (no allocation in steady
/// state) and reports an allocation failure as an error instead of trapping.
public final class FloatBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>?
    public private(set) var capacity = 0

    public init() {}

    deinit { free(pointer) }

    /// Makes room for `count` floats; the contents are not kept when it grows. `what` names the
    /// buffer in the error.
    @discardableResult
    public func ensure(_ count: Int, what: @autoclosure () -> String) throws(ModelError) -> UnsafeMutablePointer<Float>
    {
        if let pointer, count <= capacity { return pointer }
        free(pointer)
        pointer = nil
        capacity = 0
        return try grow(to: count, what: what())
    }

    /// Makes room for `count` floats keeping the contents: `copy(old, new)` moves them (for a layout
    /// that depends on the capacity, like a KV cache of several layers).
    @discardableResult
    public func ensureKeeping(
        _ count: Int, what: @autoclosure () -> String,
        copy: (_ old: UnsafePointer<Float>, _ oldCapacity: Int, _ new: UnsafeMutablePointer<Float>) -> Void
    )
        throws(ModelError) -> UnsafeMutablePointer<Float>
    {
        if let pointer, count <= capacity { return pointer }
        let old = pointer
        let oldCapacity = capacity
        pointer = nil
        capacity = 0
        defer { free(old) }
        let fresh = try grow(to: count, what: what())
        if let old { copy(old, oldCapacity, fresh) }
        return fresh
    }

    private func grow(to count: Int, what: String) throws(ModelError) -> UnsafeMutablePointer<Float> {
        let (bytes, overflow) = max(count, 1).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        var raw: UnsafeMutableRawPointer?
        // posix_memalign rather than allocate(capacity:): a failure must be an error, not a trap.
        guard !overflow, posix_memalign(&raw, 64, bytes) == 0, let raw else {
            throw ModelError(.outOfMemory, "cannot allocate \(what) (\(count) floats)")
        }
        let p = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer = p
        capacity = count
        return p
    }
}
