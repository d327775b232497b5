import Swiftlet

/// The case name of a thrown Swiftlet error ("budget", "contextFull", ...), nil if nothing was thrown.
func errorKind(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let e as SwiftletError {
        return Mirror(reflecting: e).children.first?.label ?? "\(e)"
    } catch {
        return "non-Swiftlet error: \(error)"
    }
}
