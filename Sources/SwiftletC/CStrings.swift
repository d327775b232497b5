import Glibc

/// C strings owned by a handle: kept alive until replaced or until the handle is freed.
final class OwnedCStrings {
    private var strings: [String: UnsafeMutablePointer<CChar>] = [:]

    /// A stable C copy of `value`, kept under `slot` (replacing what the slot held).
    func set(_ slot: String, _ value: String) -> UnsafePointer<CChar> {
        if let old = strings[slot] { free(old) }
        let p = strdup(value)!
        strings[slot] = p
        return UnsafePointer(p)
    }

    /// The slot's string, made once.
    func cached(_ slot: String, _ make: () -> String) -> UnsafePointer<CChar> {
        if let p = strings[slot] { return UnsafePointer(p) }
        return set(slot, make())
    }

    deinit {
        for p in strings.values { free(p) }
    }
}
