/// An error from reading a checkpoint or `.npy` file. `message` says what was found and, where
/// possible, what to do about it.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
