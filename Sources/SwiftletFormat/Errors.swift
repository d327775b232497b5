/// An error reading or writing a `.swl` file.
///
/// `message` is one line that says what is wrong and, where it helps, what to do about it. When the
/// error concerns one tensor, `tensor` holds its name and the message names it too.
public struct FormatError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The operating system refused an operation (open, mmap, write, rename, allocation).
        case io
        /// The file is shorter than its header says, or shorter than a header.
        case truncated
        /// The file does not start with the `.swl` magic.
        case badMagic
        /// The file is a Git LFS pointer, not the weights.
        case gitLFSPointer
        /// The file needs a newer major version of the format.
        case newerVersion
        case corruptHeader
        case corruptIndex
        case corruptMetadata
        /// A section or tensor lies (partly) outside the file or its section.
        case outOfBounds
        /// Two sections or two tensors share bytes.
        case overlap
        /// A count or size is beyond what the format or this machine allows.
        case tooLarge
        /// A header or tensor checksum does not match.
        case checksum
        /// The tensor's data type is unknown to this runtime.
        case unsupportedDType
        /// The tensor's codec or filter is unknown to this runtime.
        case unsupportedCodec
        /// A compressed tensor could not be decoded.
        case decompression
        /// No tensor or key of that name.
        case notFound
        /// The tensor cannot be read as asked (for example floats of an integer tensor).
        case wrongType
        /// The writer or an encoder was given inconsistent input.
        case invalidArgument
    }

    public let kind: Kind
    public let message: String
    public let tensor: String?

    public init(_ kind: Kind, _ message: String, tensor: String? = nil) {
        self.kind = kind
        self.message = message
        self.tensor = tensor
    }

    public var description: String { message }
}
