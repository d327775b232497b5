/// Finds the state dict inside an unpickled torch checkpoint: under `model`, `state_dict`,
/// `model_state_dict` or `module` (recursively, e.g. `model.module`), else the top level if at
/// least half its values are tensors, else the first such dict, depth first in file order, else
/// the first dict holding any tensors at all.
enum StateDictLocator {
    static let preferredKeys = ["model", "state_dict", "model_state_dict", "module"]
    static let maxDepth = 32

    struct Result {
        let entries: [(key: PickleValue, value: PickleValue)]
        /// Dotted key path from the top level; nil for the top level itself.
        let path: String?
    }

    static func locate(_ root: PickleValue, in arena: PickleArena) throws -> Result {
        var search = Search(arena: arena, requireMajority: true)
        var found = search.find(root, path: [], depth: 0)
        if found == nil {
            var lenient = Search(arena: arena, requireMajority: false)
            found = lenient.find(root, path: [], depth: 0)
        }
        if let (index, path) = found {
            return Result(
                entries: arena.dicts[index].entries, path: path.isEmpty ? nil : path.joined(separator: "."))
        }
        if case .dict(let index) = root, arena.dicts[index].entries.isEmpty {
            return Result(entries: [], path: nil)
        }
        if let module = search.moduleObject {
            throw CheckpointError(
                "the checkpoint holds a whole pickled module (\(module)) rather than a state dict; "
                    + "re-save it with torch.save(model.state_dict(), path)")
        }
        var description = "a \(arena.kind(root))"
        if case .dict(let index) = root {
            let keys = arena.dicts[index].entries.prefix(8).map { entry -> String in
                if case .string(let text) = entry.key { return "'\(text)'" }
                return arena.kind(entry.key)
            }
            description = "a dict with keys [\(keys.joined(separator: ", "))]"
        }
        throw CheckpointError(
            "no state dict (a dict of tensors) found: the checkpoint holds \(description)")
    }

    private struct Search {
        let arena: PickleArena
        /// Whether a dict needs at least half its values to be tensors (first pass) or just one.
        let requireMajority: Bool
        var visitedDicts = Set<Int>()
        var visitedLists = Set<Int>()
        var visitedTuples = Set<Int>()
        var visitedObjects = Set<Int>()
        /// The first object that looks like a pickled `nn.Module`, for the error message.
        var moduleObject: String?

        init(arena: PickleArena, requireMajority: Bool) {
            self.arena = arena
            self.requireMajority = requireMajority
        }

        func tensorCount(_ index: Int) -> Int {
            arena.dicts[index].entries.reduce(0) { count, entry in
                guard case .string = entry.key else { return count }
                return arena.isTensorLike(entry.value) ? count + 1 : count
            }
        }

        /// The arena index of the state dict and its key path.
        mutating func find(_ value: PickleValue, path: [String], depth: Int) -> (Int, [String])? {
            guard depth < maxDepth else { return nil }
            switch value {
            case .dict(let index):
                guard visitedDicts.insert(index).inserted else { return nil }
                let dict = arena.dicts[index]
                // Preferred keys first: a training checkpoint may keep stray tensors at the top level.
                for key in preferredKeys {
                    guard let child = dict[key], case .dict(let childIndex) = child else { continue }
                    if let found = find(child, path: path + [key], depth: depth + 1) { return found }
                    // Under a preferred key, any tensors at all mark the state dict.
                    if tensorCount(childIndex) > 0 { return (childIndex, path + [key]) }
                }
                let tensors = tensorCount(index)
                if tensors > 0 && (!requireMajority || tensors * 2 >= dict.entries.count) {
                    return (index, path)
                }
                for (key, child) in dict.entries {
                    let name: String
                    switch key {
                    case .string(let text): name = text
                    case .int(let number): name = String(number)
                    default: name = "?"
                    }
                    if let found = find(child, path: path + [name], depth: depth + 1) { return found }
                }
                return nil
            case .list(let index):
                guard visitedLists.insert(index).inserted else { return nil }
                return findIn(arena.lists[index], path: path, depth: depth)
            case .tuple(let index):
                guard visitedTuples.insert(index).inserted else { return nil }
                return findIn(arena.tuples[index], path: path, depth: depth)
            case .object(let index):
                guard visitedObjects.insert(index).inserted else { return nil }
                let object = arena.objects[index]
                // A pickled nn.Module keeps parameters in per-submodule dicts: not a state dict.
                if case .dict(let stateIndex)? = object.state, arena.dicts[stateIndex]["_modules"] != nil,
                    arena.dicts[stateIndex]["_parameters"] != nil
                {
                    if moduleObject == nil { moduleObject = "\(object.module).\(object.name)" }
                    return nil
                }
                if let state = object.state { return find(state, path: path, depth: depth + 1) }
                return nil
            default:
                return nil
            }
        }

        private mutating func findIn(_ items: [PickleValue], path: [String], depth: Int)
            -> (Int, [String])?
        {
            for (i, item) in items.enumerated() {
                if let found = find(item, path: path + [String(i)], depth: depth + 1) { return found }
            }
            return nil
        }
    }
}
