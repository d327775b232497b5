#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A pthread mutex on the heap (a Swift struct holding one could be moved).
final class Lock: @unchecked Sendable {
    private let m: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        m = .allocate(capacity: 1)
        m.initialize(to: pthread_mutex_t())
        pthread_mutex_init(m, nil)
    }

    deinit {
        pthread_mutex_destroy(m)
        m.deallocate()
    }

    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        return try body()
    }
}

/// An aligned heap allocation that reports failure instead of trapping (sizes may come from files).
func allocateAligned(_ size: Int, alignment: Int = 64, for tensor: String? = nil) throws(FormatError)
    -> UnsafeMutableRawBufferPointer
{
    var p: UnsafeMutableRawPointer? = nil
    let rc = posix_memalign(&p, alignment, max(size, 1))
    guard rc == 0, let p else {
        let what = tensor.map { "tensor '\($0)'" } ?? "the file"
        throw FormatError(.io, "cannot allocate \(size) bytes for \(what): out of memory", tensor: tensor)
    }
    return UnsafeMutableRawBufferPointer(start: p, count: size)
}

func freeAligned(_ b: UnsafeMutableRawBufferPointer) {
    free(b.baseAddress)
}

/// The text of the current `errno`.
func errnoText() -> String {
    String(cString: strerror(errno))
}

/// Byte shuffle (Formats/swl.md §7): byte j of element i goes to j·N + i; the remainder is kept.
func shuffleBytes(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer, width k: Int) {
    let n = src.count / k
    for i in 0..<n {
        for j in 0..<k { dst[j * n + i] = src[i * k + j] }
    }
    for r in (n * k)..<src.count { dst[r] = src[r] }
}

/// Reverse of `shuffleBytes`.
func unshuffleBytes(_ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer, width k: Int) {
    let n = src.count / k
    for i in 0..<n {
        for j in 0..<k { dst[i * k + j] = src[j * n + i] }
    }
    for r in (n * k)..<src.count { dst[r] = src[r] }
}

/// `write(2)`, under a name that methods called `write` do not shadow.
func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
