/// What the restricted unpickler builds. Nothing here can run code: classes are names, and objects
/// of classes the reader does not know are inert records of their constructor arguments and state.
///
/// Containers live in a `PickleArena` and values refer to them by index, so a value is never
/// recursive: a hostile pickle nesting a million tuples cannot overflow the stack when the graph
/// is freed, and cycles (a list holding itself) cost nothing.
enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer wider than 64 bits (little-endian two's-complement bytes), kept but never used.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// Index into `PickleArena.tuples`.
    case tuple(Int)
    /// Index into `PickleArena.lists`.
    case list(Int)
    /// Index into `PickleArena.dicts`.
    case dict(Int)
    /// A class or function reference (`GLOBAL module name`), never imported.
    case global(module: String, name: String)
    /// Index into `PickleArena.objects`: an instance of a class the reader does not interpret.
    case object(Int)
    /// A tensor storage named by a persistent id.
    case storage(PickleStorage)
    /// A tensor view into a storage, from `torch._utils._rebuild_tensor_v2` and friends.
    case tensor(PickleTensor)
}

/// Owns every container an unpickling run creates.
final class PickleArena {
    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var dicts: [PickleDict] = []
    var objects: [PickleObject] = []

    func tuple(_ items: [PickleValue]) -> PickleValue {
        tuples.append(items)
        return .tuple(tuples.count - 1)
    }

    func list(_ items: [PickleValue] = []) -> PickleValue {
        lists.append(items)
        return .list(lists.count - 1)
    }

    func dict() -> PickleValue {
        dicts.append(PickleDict())
        return .dict(dicts.count - 1)
    }

    func object(module: String, name: String, arguments: [PickleValue]) -> PickleValue {
        objects.append(PickleObject(module: module, name: name, arguments: arguments))
        return .object(objects.count - 1)
    }

    /// The items of a tuple, or nil for any other value.
    func tupleItems(_ value: PickleValue) -> [PickleValue]? {
        if case .tuple(let index) = value { return tuples[index] }
        return nil
    }

    /// A tensor, or a tensor that torch rebuilds without a raw storage (meta, quantized, sparse):
    /// the latter still mark a state dict, so that reading it can name what is unsupported.
    func isTensorLike(_ value: PickleValue) -> Bool {
        switch value {
        case .tensor: return true
        case .object(let index):
            return objects[index].module == "torch._utils" && objects[index].name.hasPrefix("_rebuild_")
        default: return false
        }
    }

    /// A short description of a value's type, for messages.
    func kind(_ value: PickleValue) -> String {
        switch value {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let module, let name):
            if module == "torch" && TensorDType(torchDTypeName: name) != nil { return "dtype torch.\(name)" }
            return "reference to \(module).\(name)"
        case .object(let index): return "\(objects[index].module).\(objects[index].name) object"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }
}

/// An insertion-ordered dict. String and int keys replace earlier entries as in Python; other
/// keys are only appended, which is enough for locating state dicts.
struct PickleDict {
    private(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var stringIndex: [String: Int] = [:]
    private var intIndex: [Int: Int] = [:]

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        switch key {
        case .string(let text):
            if let i = stringIndex[text] {
                entries[i].value = value
                return
            }
            stringIndex[text] = entries.count
        case .int(let number):
            if let i = intIndex[number] {
                entries[i].value = value
                return
            }
            intIndex[number] = entries.count
        default:
            break
        }
        entries.append((key, value))
    }

    subscript(key: String) -> PickleValue? {
        stringIndex[key].map { entries[$0].value }
    }
}

/// An inert record of an object of a class the reader does not interpret.
struct PickleObject {
    let module: String
    let name: String
    let arguments: [PickleValue]
    var state: PickleValue?
    var listItems: [PickleValue] = []
    var dictItems: [(key: PickleValue, value: PickleValue)] = []

    init(module: String, name: String, arguments: [PickleValue]) {
        self.module = module
        self.name = name
        self.arguments = arguments
    }
}

/// `('storage', torch.<X>Storage, key, location, numel)`: the zip entry `data/<key>`.
struct PickleStorage {
    /// `torch.FloatStorage` → "FloatStorage".
    let typeName: String
    /// nil when the storage type is not one this reader can decode.
    let dtype: TensorDType?
    let key: String
    let location: String
    /// Size in elements of `dtype` (bytes for `UntypedStorage`).
    let elementCount: Int
}

/// A strided view into a storage.
struct PickleTensor {
    let storage: PickleStorage
    let offset: Int
    let size: [Int]
    let stride: [Int]
}
