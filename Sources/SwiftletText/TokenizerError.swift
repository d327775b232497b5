/// Why a tokenizer could not be loaded or a call refused: one line that says what to do.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case format, invalidArgument }
    public let kind: Kind
    public let message: String

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
