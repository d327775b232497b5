/// An error from a model family: what went wrong, in one line that says what to do.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case invalidArgument, shape, unsupported, budget, aborted, state, numeric, contextFull
        case format, checksum, newerVersion, io, outOfMemory, internalError
    }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
