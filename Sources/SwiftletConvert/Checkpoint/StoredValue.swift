import Foundation

/// A plain value a checkpoint keeps beside its weights — training arguments such as LoopFormer's
/// `model_args`, DeiT's `args` namespace, GPT-NeoX's `args`, or a Hugging Face `config.json` —
/// from which a converter learns constructor arguments the tensors do not show.
public indirect enum StoredValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([StoredValue])
    case dict([String: StoredValue])

    /// The entries of a dict, nil for anything else.
    public var dictionary: [String: StoredValue]? {
        if case .dict(let d) = self { return d }
        return nil
    }

    /// The value as JSONSerialization would give it (NSNumber, String, [Any], [String: Any], NSNull),
    /// the form `ConstructorConfig` reads.
    public var foundationValue: Any {
        switch self {
        case .none: return NSNull()
        case .bool(let b): return NSNumber(value: b)
        case .int(let i): return NSNumber(value: i)
        case .double(let d): return NSNumber(value: d)
        case .string(let s): return s
        case .list(let items): return items.map(\.foundationValue)
        case .dict(let d): return d.mapValues(\.foundationValue)
        }
    }
}

extension StoredValue {
    /// Nesting deeper than this is not configuration (and keeps hostile pickles cheap).
    static let maxDepth = 8

    /// The plain entries beside the state dict at the top of an unpickled checkpoint. Tensors,
    /// storages, classes and other non-data values are left out; an object (an argparse Namespace, a
    /// dataclass) counts as its attribute dict.
    static func extras(_ root: PickleValue, stateDictPath: String?, arena: PickleArena) -> [String: StoredValue] {
        guard case .dict(let index) = root, let top = stateDictPath?.split(separator: ".").first else { return [:] }
        var out: [String: StoredValue] = [:]
        for (key, value) in arena.dicts[index].entries {
            guard case .string(let name) = key, name != top, let plain = plain(value, arena, depth: 0) else { continue }
            out[name] = plain
        }
        return out
    }

    private static func plain(_ value: PickleValue, _ arena: PickleArena, depth: Int) -> StoredValue? {
        guard depth < maxDepth else { return nil }
        switch value {
        case .none: return StoredValue.none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .double(d)
        case .string(let s): return .string(s)
        case .list(let i): return .list(arena.lists[i].map { plain($0, arena, depth: depth + 1) ?? .none })
        case .tuple(let i): return .list(arena.tuples[i].map { plain($0, arena, depth: depth + 1) ?? .none })
        case .dict(let i):
            var d: [String: StoredValue] = [:]
            for (key, value) in arena.dicts[i].entries {
                if case .string(let k) = key, let v = plain(value, arena, depth: depth + 1) { d[k] = v }
            }
            return .dict(d)
        case .object(let i):
            guard let state = arena.objects[i].state, case .dict = state else { return nil }
            return plain(state, arena, depth: depth + 1)
        case .bigInt, .bytes, .global, .storage, .tensor: return nil
        }
    }

    /// A JSON document (a Hugging Face `config.json`), numbers and booleans kept apart.
    static func json(_ bytes: UnsafeRawBufferPointer) throws -> StoredValue {
        func convert(_ j: OrderedJSON) -> StoredValue {
            switch j {
            case .null: return .none
            case .bool(let b): return .bool(b)
            case .int(let i): return .int(i)
            case .double(let d): return .double(d)
            case .string(let s): return .string(s)
            case .array(let items): return .list(items.map(convert))
            case .object(let members):
                return .dict(Dictionary(members.map { ($0.key, convert($0.value)) }) { a, _ in a })
            }
        }
        return convert(try OrderedJSON.parse(bytes))
    }
}
