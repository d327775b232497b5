import Foundation

/// The converter's KWARGS file: the reference constructor's keyword arguments as a JSON object, with
/// typed getters whose errors name the field and the file.
public struct ConstructorConfig: @unchecked Sendable {
    public let values: [String: Any]
    public let source: String

    public init(values: [String: Any], source: String = "config") {
        self.values = values
        self.source = source
    }

    /// Reads a JSON object from a file. A fixture-style config that nests the arguments under
    /// `constructor`, `timm_kwargs` or `config` is unwrapped.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvertError("cannot read the config file \(path)")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConvertError("\(path) is not valid JSON: \(error.localizedDescription)")
        }
        guard var dict = object as? [String: Any] else {
            throw ConvertError("\(path) must hold a JSON object of constructor arguments")
        }
        for key in ["constructor", "timm_kwargs", "config"] {
            if let inner = dict[key] as? [String: Any] { dict = inner; break }
        }
        self.init(values: dict, source: path)
    }

    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    /// A JSON number, not a boolean. (On Linux `x is Bool` is true for the numbers 0 and 1, so the
    /// NSNumber's own type code decides.)
    static func number(_ v: Any) -> NSNumber? {
        guard let n = v as? NSNumber else { return nil }
        let code = String(cString: n.objCType)
        return code == "c" || code == "B" ? nil : n
    }

    static func boolean(_ v: Any) -> Bool? {
        guard let n = v as? NSNumber else { return nil }
        let code = String(cString: n.objCType)
        return code == "c" || code == "B" ? n.boolValue : nil
    }

    public func int(_ key: String) throws -> Int {
        guard let v = values[key] else { throw ConvertError("\(source): the field '\(key)' (an integer) is missing") }
        if let n = Self.number(v), n.doubleValue == n.doubleValue.rounded() { return n.intValue }
        throw ConvertError("\(source): '\(key)' must be an integer, got \(v)")
    }

    public func int(_ key: String, default d: Int) throws -> Int { has(key) ? try int(key) : d }

    public func double(_ key: String) throws -> Double {
        guard let v = values[key] else { throw ConvertError("\(source): the field '\(key)' (a number) is missing") }
        if let n = Self.number(v) { return n.doubleValue }
        throw ConvertError("\(source): '\(key)' must be a number, got \(v)")
    }

    public func double(_ key: String, default d: Double) throws -> Double { has(key) ? try double(key) : d }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard has(key) else { return d }
        if let b = Self.boolean(values[key]!) { return b }
        throw ConvertError("\(source): '\(key)' must be true or false, got \(values[key]!)")
    }

    public func string(_ key: String) throws -> String {
        guard let v = values[key] else { throw ConvertError("\(source): the field '\(key)' (a string) is missing") }
        if let s = v as? String { return s }
        throw ConvertError("\(source): '\(key)' must be a string, got \(v)")
    }

    public func string(_ key: String, default d: String) throws -> String { has(key) ? try string(key) : d }

    public func ints(_ key: String) throws -> [Int] {
        if let a = values[key] as? [Any] {
            let numbers = a.compactMap(Self.number)
            if numbers.count == a.count { return numbers.map(\.intValue) }
        }
        if let v = values[key], let n = Self.number(v) { return [n.intValue] }
        throw ConvertError("\(source): '\(key)' must be an integer or a list of integers")
    }
}

/// A conversion error: one line saying what is wrong and what to do.
public struct ConvertError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
