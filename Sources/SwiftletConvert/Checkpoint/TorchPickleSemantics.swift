/// What the few callables a torch state dict needs mean, without running any of them. Every other
/// class or function becomes an inert `PickleObject` of its arguments — `os.system` included.
struct TorchPickleSemantics {
    let arena: PickleArena

    /// `REDUCE` / `NEWOBJ` / `OBJ` / `INST`: `callable(*args)`.
    func call(_ callable: PickleValue, _ args: [PickleValue]) throws -> PickleValue {
        guard case .global(let module, let name) = callable else {
            // Calling the result of another call (e.g. of builtins.getattr): still just a record.
            if case .object(let index) = callable {
                let object = arena.objects[index]
                return arena.object(module: object.module, name: object.name + "(...)", arguments: args)
            }
            throw CheckpointError("pickle calls a \(arena.kind(callable)), which is not callable")
        }
        switch (module, name) {
        case ("collections", "OrderedDict"), ("builtins", "dict"), ("__builtin__", "dict"):
            return try makeDict(args)
        case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
            return .tensor(try rebuildTensor(name, args))
        case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
            // Parameter(data, requires_grad, hooks[, state]): the data is the tensor.
            guard let data = args.first else { throw CheckpointError("\(name) without arguments") }
            return data
        case ("torch._tensor", "_rebuild_from_type_v2"):
            // (func, tensor subclass, func's arguments, python state): rebuild with func.
            guard args.count >= 3, let inner = arena.tupleItems(args[2]) else {
                throw CheckpointError("_rebuild_from_type_v2 with unexpected arguments")
            }
            return try call(args[0], inner)
        case ("torch", "Size"):
            return args.first ?? arena.tuple([])
        default:
            return arena.object(module: module, name: name, arguments: args)
        }
    }

    /// `BUILD`: only inert records keep their state. An OrderedDict's state is its Python
    /// attributes (the state dict's `_metadata`), not items, so it is dropped.
    func build(_ target: PickleValue, state: PickleValue) {
        if case .object(let index) = target { arena.objects[index].state = state }
    }

    /// A persistent id `('storage', torch.<X>Storage, key, location, numel)`.
    static func persistentStorage(_ id: PickleValue, arena: PickleArena) throws -> PickleValue {
        guard let fields = arena.tupleItems(id), fields.count >= 5, case .string("storage") = fields[0]
        else {
            // Not one of torch's: keep it as a record; a tensor on it is refused later.
            return arena.object(module: "<persistent id>", name: arena.kind(id), arguments: [id])
        }
        guard case .global(let module, let typeName) = fields[1] else {
            throw CheckpointError("storage persistent id has a \(arena.kind(fields[1])) as its type")
        }
        guard case .string(let key) = fields[2] else {
            throw CheckpointError("storage persistent id has a \(arena.kind(fields[2])) as its key")
        }
        guard case .int(let count) = fields[4], count >= 0 else {
            throw CheckpointError("storage '\(key)' has an invalid element count")
        }
        var location = ""
        if case .string(let text) = fields[3] { location = text }
        let dtype = module == "torch" ? TensorDType(torchStorageName: typeName) : nil
        return .storage(
            PickleStorage(
                typeName: module == "torch" ? typeName : "\(module).\(typeName)", dtype: dtype, key: key,
                location: location, elementCount: count))
    }

    private func makeDict(_ args: [PickleValue]) throws -> PickleValue {
        let result = arena.dict()
        guard case .dict(let target) = result, let source = args.first else { return result }
        switch source {
        case .dict(let other):
            for (key, value) in arena.dicts[other].entries { arena.dicts[target].set(key, value) }
        case .list(let index):
            try addPairs(arena.lists[index], to: target)
        case .tuple(let index):
            try addPairs(arena.tuples[index], to: target)
        default:
            throw CheckpointError("dict(...) of a \(arena.kind(source))")
        }
        return result
    }

    private func addPairs(_ items: [PickleValue], to target: Int) throws {
        for item in items {
            guard let pair = arena.tupleItems(item), pair.count == 2 else {
                throw CheckpointError("dict(...) of something other than key/value pairs")
            }
            arena.dicts[target].set(pair[0], pair[1])
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks, ...)`.
    private func rebuildTensor(_ function: String, _ args: [PickleValue]) throws -> PickleTensor {
        guard args.count >= 4 else {
            throw CheckpointError("\(function) with \(args.count) arguments, expected at least 4")
        }
        guard case .storage(let storage) = args[0] else {
            throw CheckpointError(
                "tensor with no storage: \(function) got a \(arena.kind(args[0])) where a storage was "
                    + "expected")
        }
        guard case .int(let offset) = args[1] else {
            throw CheckpointError("\(function): storage offset is a \(arena.kind(args[1]))")
        }
        return PickleTensor(
            storage: storage, offset: offset, size: try ints(args[2], "size"),
            stride: try ints(args[3], "stride"))
    }

    private func ints(_ value: PickleValue, _ what: String) throws -> [Int] {
        guard let items = arena.tupleItems(value) else {
            throw CheckpointError("tensor \(what) is a \(arena.kind(value)), expected a tuple")
        }
        return try items.map { item in
            guard case .int(let number) = item else {
                throw CheckpointError("tensor \(what) holds a \(arena.kind(item))")
            }
            return number
        }
    }
}
