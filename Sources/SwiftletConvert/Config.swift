import Foundation

/// The converter's KWARGS file: the reference constructor's keyword arguments as a JSON object, with
/// typed getters whose errors name the field and where its value came from.
public struct ConstructorConfig: @unchecked Sendable {
    public private(set) var values: [String: Any]
    public let source: String
    /// Where values not from `source` came from (keys the checkpoint itself recorded).
    private var origins: [String: String] = [:]

    public init(values: [String: Any], source: String = "config") {
        self.values = values
        self.source = source
    }

    /// Where the value of `key` came from, for messages: the config file or a checkpoint entry.
    public func origin(of key: String) -> String { origins[key] ?? source }

    /// This config completed by values a checkpoint records about itself (`origin` names where):
    /// keys this config lacks are taken over; a key both give must have the same value.
    public func completed(by stored: [String: Any], origin: String) throws -> ConstructorConfig {
        var out = self
        for (key, value) in stored.sorted(by: { $0.key < $1.key }) where !(value is NSNull) {
            if let mine = has(key) ? values[key] : nil {
                guard Self.same(mine, value) else {
                    throw ConvertError(
                        "\(self.origin(of: key)): \(key) = \(Self.describe(mine)) contradicts \(origin), which records \(key) = \(Self.describe(value))"
                    )
                }
            } else {
                out.values[key] = value
                out.origins[key] = origin
            }
        }
        return out
    }

    /// The same config with keys renamed by `rename`, inside nested objects too (GPT-NeoX YAML spells
    /// `hidden-size` for `hidden_size`). Two keys that become one must have the same value.
    public func renamingKeys(_ rename: (String) -> String) throws -> ConstructorConfig {
        func renamed(_ values: [String: Any], _ path: String) throws -> [String: Any] {
            var out: [String: Any] = [:]
            for (key, value) in values.sorted(by: { $0.key < $1.key }) {
                let new = rename(key)
                let v = try (value as? [String: Any]).map { try renamed($0, path + new + ".") } ?? value
                if let other = out[new], !Self.same(other, v) {
                    throw ConvertError(
                        "\(source): \(path)\(new) is given twice with different values (\(Self.describe(other)) and \(Self.describe(v)))"
                    )
                }
                out[new] = v
            }
            return out
        }
        var out = self
        out.values = try renamed(values, "")
        out.origins = Dictionary(origins.map { (rename($0.key), $0.value) }) { a, _ in a }
        return out
    }

    /// JSON-style values compared as values (1 and 1.0 are equal; true and 1 are not).
    static func same(_ a: Any, _ b: Any) -> Bool {
        if let x = a as? NSNumber, let y = b as? NSNumber {
            return (boolean(x) == nil) == (boolean(y) == nil) && x.doubleValue == y.doubleValue
        }
        if let x = a as? String, let y = b as? String { return x == y }
        if let x = a as? [Any], let y = b as? [Any] { return x.count == y.count && zip(x, y).allSatisfy(same) }
        if let x = a as? [String: Any], let y = b as? [String: Any] {
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
        }
        return a is NSNull && b is NSNull
    }

    /// A value as a message shows it: `4`, `0.25`, `true`, `'rmsnorm'`, `[224, 224]`.
    static func describe(_ v: Any) -> String {
        if let n = v as? NSNumber {
            if let b = boolean(n) { return b ? "true" : "false" }
            let d = n.doubleValue
            return d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
        }
        if let b = v as? Bool { return b ? "true" : "false" }
        if let d = v as? Double { return describe(NSNumber(value: d)) }
        if let s = v as? String { return "'\(s)'" }
        if let a = v as? [Any] { return "[" + a.map(describe).joined(separator: ", ") + "]" }
        return "\(v)"
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
            if let inner = dict[key] as? [String: Any] {
                dict = inner
                break
            }
        }
        self.init(values: dict, source: path)
    }

    public func has(_ key: String) -> Bool { values[key] != nil && !(values[key] is NSNull) }

    /// Throws, naming every key outside `accepted`: "<source>: unknown <what> <keys><hint>".
    func refuseUnknownKeys(accepted: Set<String>, _ what: String, hint: String = "") throws {
        let unknown = values.keys.filter { !accepted.contains($0) }.sorted()
        guard unknown.isEmpty else {
            throw ConvertError("\(source): unknown \(what) \(unknown.joined(separator: ", "))\(hint)")
        }
    }

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
        if let n = Self.number(v), n.doubleValue == n.doubleValue.rounded(), abs(n.doubleValue) < 1e15 {
            return n.intValue
        }
        throw ConvertError("\(origin(of: key)): '\(key)' must be an integer, got \(v)")
    }

    public func int(_ key: String, default d: Int) throws -> Int { has(key) ? try int(key) : d }

    public func double(_ key: String) throws -> Double {
        guard let v = values[key] else { throw ConvertError("\(source): the field '\(key)' (a number) is missing") }
        if let n = Self.number(v), n.doubleValue.isFinite { return n.doubleValue }
        throw ConvertError("\(origin(of: key)): '\(key)' must be a number, got \(v)")
    }

    public func double(_ key: String, default d: Double) throws -> Double { has(key) ? try double(key) : d }

    public func bool(_ key: String, default d: Bool) throws -> Bool {
        guard has(key) else { return d }
        if let b = Self.boolean(values[key]!) { return b }
        throw ConvertError("\(origin(of: key)): '\(key)' must be true or false, got \(values[key]!)")
    }

    public func string(_ key: String) throws -> String {
        guard let v = values[key] else { throw ConvertError("\(source): the field '\(key)' (a string) is missing") }
        if let s = v as? String { return s }
        throw ConvertError("\(origin(of: key)): '\(key)' must be a string, got \(v)")
    }

    public func string(_ key: String, default d: String) throws -> String { has(key) ? try string(key) : d }

    public func ints(_ key: String) throws -> [Int] {
        if let a = values[key] as? [Any] {
            let numbers = a.compactMap(Self.number)
            if numbers.count == a.count { return numbers.map(\.intValue) }
        }
        if let v = values[key], let n = Self.number(v) { return [n.intValue] }
        throw ConvertError("\(origin(of: key)): '\(key)' must be an integer or a list of integers")
    }
}

/// A conversion error: one line saying what is wrong and what to do.
public struct ConvertError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
