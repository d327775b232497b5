import SwiftletFormat
import SwiftletModels

/// Every error the Swift API throws. The associated text is a one-line message that says what is
/// wrong and, where it can, what to do.
public enum SwiftletError: Error, CustomStringConvertible, Sendable, Equatable {
    case invalidArgument(String)
    case io(String)
    case format(String)
    case newerVersion(String)
    case checksum(String)
    case unsupported(String)
    case shape(String)
    case busy(String)
    case aborted(String)
    case budget(String)
    case outOfMemory(String)
    case notFound(String)
    case bufferTooSmall(String)
    case state(String)
    case numeric(String)
    case contextFull(String)
    case internalError(String)

    public var message: String {
        switch self {
        case .invalidArgument(let m), .io(let m), .format(let m), .newerVersion(let m), .checksum(let m),
            .unsupported(let m), .shape(let m), .busy(let m), .aborted(let m), .budget(let m),
            .outOfMemory(let m), .notFound(let m), .bufferTooSmall(let m), .state(let m),
            .numeric(let m), .contextFull(let m), .internalError(let m):
            return m
        }
    }

    public var description: String { message }

    init(_ e: ModelError) {
        switch e.kind {
        case .invalidArgument: self = .invalidArgument(e.message)
        case .shape: self = .shape(e.message)
        case .unsupported: self = .unsupported(e.message)
        case .budget: self = .budget(e.message)
        case .aborted: self = .aborted(e.message)
        case .state: self = .state(e.message)
        case .numeric: self = .numeric(e.message)
        case .contextFull: self = .contextFull(e.message)
        case .format: self = .format(e.message)
        case .checksum: self = .checksum(e.message)
        case .newerVersion: self = .newerVersion(e.message)
        case .io: self = .io(e.message)
        case .outOfMemory: self = .outOfMemory(e.message)
        case .internalError: self = .internalError(e.message)
        }
    }

    init(_ e: FormatError) {
        self.init(ModelError(e))
    }
}
