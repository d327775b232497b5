/// An error raised by a kernel whose arguments describe an impossible computation.
///
/// Kernels that only take sizes treat a non-positive size as "nothing to do"; kernels with geometry
/// that can be inconsistent (convolutions, attention, embedding lookups) or that allocate report the
/// problem with this error instead of trapping.
public enum KernelError: Error, Equatable, CustomStringConvertible {
    /// Sizes, strides or channel counts that do not fit together; the string says which.
    case invalidShape(String)
    /// An index (for example a token id) outside `0..<bound`.
    case indexOutOfRange(index: Int, bound: Int)
    /// The system refused an allocation of this many bytes.
    case outOfMemory(bytes: Int)

    public var description: String {
        switch self {
        case .invalidShape(let detail): return "invalid shape: \(detail)"
        case .indexOutOfRange(let index, let bound): return "index \(index) out of range 0..<\(bound)"
        case .outOfMemory(let bytes): return "out of memory allocating \(bytes) bytes"
        }
    }
}
