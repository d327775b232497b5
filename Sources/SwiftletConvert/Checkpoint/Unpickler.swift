/// A restricted unpickler for `data.pkl` of torch checkpoints (protocols 0–5 as state dicts and
/// training checkpoints use them). It never imports or calls anything: `GLOBAL` yields a name,
/// `REDUCE`/`NEWOBJ`/`BUILD` interpret a few known torch and collections functions (see
/// `TorchPickleSemantics`) and turn every other class into an inert `PickleObject`.
struct Unpickler {
    private let bytes: UnsafeRawBufferPointer
    private let source: String
    private var position = 0
    private var opcodeOffset = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private let persistentLoad: (PickleValue, PickleArena) throws -> PickleValue
    /// Every container the pickle built; the result refers into it.
    let arena = PickleArena()

    /// - Parameters:
    ///   - source: the entry name, for error messages.
    ///   - persistentLoad: maps a persistent id (`BINPERSID`) to a value.
    init(
        bytes: UnsafeRawBufferPointer, source: String,
        persistentLoad: @escaping (PickleValue, PickleArena) throws -> PickleValue
    ) {
        self.bytes = bytes
        self.source = source
        self.persistentLoad = persistentLoad
    }

    private func error(_ what: String) -> CheckpointError {
        CheckpointError("\(source): \(what) (opcode at byte offset \(opcodeOffset))")
    }

    // MARK: reading operands

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - position else {
            throw error("pickle data ends in the middle of an opcode (truncated)")
        }
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + n])
    }

    private mutating func uint(_ n: Int) throws -> UInt64 {
        let raw = try take(n)
        var value: UInt64 = 0
        for i in stride(from: n - 1, through: 0, by: -1) { value = value << 8 | UInt64(raw[i]) }
        return value
    }

    private mutating func length(_ n: Int) throws -> Int {
        let value = try uint(n)
        guard value <= UInt64(bytes.count - position) else {
            throw error("length \(value) runs past the end of the pickle (truncated or corrupt)")
        }
        return Int(value)
    }

    private mutating func line() throws -> String {
        var end = position
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        guard end < bytes.count else { throw error("unterminated text operand") }
        let text = String(
            decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<end]),
            as: UTF8.self)
        position = end + 1
        return text
    }

    private mutating func utf8String(_ n: Int) throws -> String {
        let raw = try take(n)
        guard let text = String(validating: raw, as: UTF8.self) else {
            // Python writes lone surrogates with 'surrogatepass'; keep what can be kept.
            return String(decoding: raw, as: UTF8.self)
        }
        return text
    }

    /// Little-endian two's-complement integer of any width (LONG1/LONG4).
    private func signedInteger(_ raw: [UInt8]) -> PickleValue {
        guard !raw.isEmpty else { return .int(0) }
        guard raw.count <= 8 else { return .bigInt(raw) }
        var value: UInt64 = 0
        for byte in raw.reversed() { value = value << 8 | UInt64(byte) }
        let bits = raw.count * 8
        if bits < 64 && raw[raw.count - 1] & 0x80 != 0 { value |= ~UInt64(0) << UInt64(bits) }
        return .int(Int(Int64(bitPattern: value)))
    }

    /// Adds the opcode offset to errors from interpreting a call or a persistent id.
    private func located(_ body: () throws -> PickleValue) throws -> PickleValue {
        do {
            return try body()
        } catch let failure as CheckpointError {
            throw error(failure.message)
        }
    }

    // MARK: stack

    private mutating func pop() throws -> PickleValue {
        guard let value = stack.popLast() else { throw error("stack underflow") }
        if let mark = marks.last, stack.count < mark { throw error("pop across a MARK") }
        return value
    }

    private mutating func popToMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw error("no MARK on the stack") }
        guard mark <= stack.count else { throw error("corrupt MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private mutating func top() throws -> PickleValue {
        guard let value = stack.last else { throw error("stack underflow") }
        return value
    }

    private mutating func memoGet(_ index: Int) throws {
        guard let value = memo[index] else { throw error("memo key \(index) was never stored") }
        stack.append(value)
    }

    private mutating func memoPut(_ index: Int) throws {
        memo[index] = try top()
    }

    private func setItems(_ target: PickleValue, _ items: [PickleValue]) throws {
        guard items.count % 2 == 0 else { throw error("SETITEMS with an odd number of items") }
        switch target {
        case .dict(let index):
            for i in stride(from: 0, to: items.count, by: 2) {
                arena.dicts[index].set(items[i], items[i + 1])
            }
        case .object(let index):
            for i in stride(from: 0, to: items.count, by: 2) {
                arena.objects[index].dictItems.append((items[i], items[i + 1]))
            }
        default:
            throw error("SETITEM on a \(arena.kind(target))")
        }
    }

    private func appendItems(_ target: PickleValue, _ items: [PickleValue]) throws {
        switch target {
        case .list(let index): arena.lists[index].append(contentsOf: items)
        case .object(let index): arena.objects[index].listItems.append(contentsOf: items)
        default: throw error("APPEND on a \(arena.kind(target))")
        }
    }

    // MARK: the machine

    mutating func load() throws -> PickleValue {
        let semantics = TorchPickleSemantics(arena: arena)
        while true {
            opcodeOffset = position
            guard position < bytes.count else {
                throw error("pickle data ends without STOP (truncated)")
            }
            let op = bytes[position]
            position += 1
            switch op {
            case 0x80: // PROTO
                let version = try uint(1)
                guard version <= 5 else { throw error("pickle protocol \(version) is newer than 5") }
            case 0x95: // FRAME: a length hint only
                _ = try uint(8)
            case 0x2E: // STOP
                guard stack.count == 1, marks.isEmpty else {
                    throw error("STOP with \(stack.count) values on the stack")
                }
                return stack[0]

            case 0x28: marks.append(stack.count) // MARK
            case 0x30: _ = try pop() // POP
            case 0x31: _ = try popToMark() // POP_MARK
            case 0x32: stack.append(try top()) // DUP

            case 0x4E: stack.append(.none) // NONE
            case 0x88: stack.append(.bool(true)) // NEWTRUE
            case 0x89: stack.append(.bool(false)) // NEWFALSE
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try uint(4)))))) // BININT
            case 0x4B: stack.append(.int(Int(try uint(1)))) // BININT1
            case 0x4D: stack.append(.int(Int(try uint(2)))) // BININT2
            case 0x8A: stack.append(signedInteger(Array(try take(try length(1))))) // LONG1
            case 0x8B: stack.append(signedInteger(Array(try take(try length(4))))) // LONG4
            case 0x49: // INT (text; "00"/"01" are protocol-0 booleans)
                let text = try line()
                if text == "00" || text == "01" {
                    stack.append(.bool(text == "01"))
                } else if let value = Int(text) {
                    stack.append(.int(value))
                } else {
                    throw error("bad INT operand '\(text)'")
                }
            case 0x4C: // LONG (text, optional trailing L)
                let text = try line()
                guard let value = Int(text.hasSuffix("L") ? String(text.dropLast()) : text) else {
                    throw error("LONG operand '\(text)' does not fit 64 bits")
                }
                stack.append(.int(value))
            case 0x47: // BINFLOAT: big-endian double
                let raw = try take(8)
                var bits: UInt64 = 0
                for byte in raw { bits = bits << 8 | UInt64(byte) }
                stack.append(.float(Double(bitPattern: bits)))
            case 0x46: // FLOAT (text)
                let text = try line()
                guard let value = Double(text) else { throw error("bad FLOAT operand '\(text)'") }
                stack.append(.float(value))

            case 0x58: stack.append(.string(try utf8String(try length(4)))) // BINUNICODE
            case 0x8C: stack.append(.string(try utf8String(try length(1)))) // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try utf8String(try length(8)))) // BINUNICODE8
            case 0x42: stack.append(.bytes(Array(try take(try length(4))))) // BINBYTES
            case 0x43: stack.append(.bytes(Array(try take(try length(1))))) // SHORT_BINBYTES
            case 0x8E, 0x96: stack.append(.bytes(Array(try take(try length(8))))) // BINBYTES8, BYTEARRAY8
            case 0x54: // BINSTRING (Python 2 str): bytes, read as Latin-1 like Python 3 does
                stack.append(
                    .string(
                        String(
                            decoding: Array(try take(try length(4))).map { UInt16($0) },
                            as: UTF16.self)))
            case 0x55: // SHORT_BINSTRING
                stack.append(
                    .string(
                        String(
                            decoding: Array(try take(try length(1))).map { UInt16($0) },
                            as: UTF16.self)))

            case 0x29: stack.append(arena.tuple([])) // EMPTY_TUPLE
            case 0x85: stack.append(arena.tuple([try pop()])) // TUPLE1
            case 0x86: // TUPLE2
                let b = try pop()
                let a = try pop()
                stack.append(arena.tuple([a, b]))
            case 0x87: // TUPLE3
                let c = try pop()
                let b = try pop()
                let a = try pop()
                stack.append(arena.tuple([a, b, c]))
            case 0x74: stack.append(arena.tuple(try popToMark())) // TUPLE
            case 0x5D: stack.append(arena.list()) // EMPTY_LIST
            case 0x6C: stack.append(arena.list(try popToMark())) // LIST
            case 0x7D: stack.append(arena.dict()) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popToMark()
                let dict = arena.dict()
                try setItems(dict, items)
                stack.append(dict)
            case 0x8F: stack.append(arena.list()) // EMPTY_SET (kept as a list)
            case 0x91: // FROZENSET
                stack.append(arena.tuple(try popToMark()))
            case 0x90: // ADDITEMS
                let items = try popToMark()
                try appendItems(try top(), items)
            case 0x61: // APPEND
                let item = try pop()
                try appendItems(try top(), [item])
            case 0x65: // APPENDS
                let items = try popToMark()
                try appendItems(try top(), items)
            case 0x73: // SETITEM
                let value = try pop()
                let key = try pop()
                try setItems(try top(), [key, value])
            case 0x75: // SETITEMS
                let items = try popToMark()
                try setItems(try top(), items)

            case 0x71: try memoPut(Int(try uint(1))) // BINPUT
            case 0x72: try memoPut(Int(try uint(4))) // LONG_BINPUT
            case 0x94: try memoPut(memo.count) // MEMOIZE
            case 0x70: // PUT
                let text = try line()
                guard let index = Int(text) else { throw error("bad PUT operand '\(text)'") }
                try memoPut(index)
            case 0x68: try memoGet(Int(try uint(1))) // BINGET
            case 0x6A: try memoGet(Int(try uint(4))) // LONG_BINGET
            case 0x67: // GET
                let text = try line()
                guard let index = Int(text) else { throw error("bad GET operand '\(text)'") }
                try memoGet(index)

            case 0x63: // GLOBAL
                let module = try line()
                let name = try line()
                stack.append(.global(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                let name = try pop()
                let module = try pop()
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw error("STACK_GLOBAL operands are not strings")
                }
                stack.append(.global(module: m, name: n))
            case 0x52: // REDUCE
                let arguments = try pop()
                let callable = try pop()
                guard let args = arena.tupleItems(arguments) else {
                    throw error("REDUCE arguments are a \(arena.kind(arguments)), not a tuple")
                }
                stack.append(try located { try semantics.call(callable, args) })
            case 0x81: // NEWOBJ
                let arguments = try pop()
                let cls = try pop()
                guard let args = arena.tupleItems(arguments) else {
                    throw error("NEWOBJ arguments not a tuple")
                }
                stack.append(try located { try semantics.call(cls, args) })
            case 0x92: // NEWOBJ_EX (keyword arguments are ignored: the result is inert anyway)
                _ = try pop()
                let arguments = try pop()
                let cls = try pop()
                guard let args = arena.tupleItems(arguments) else {
                    throw error("NEWOBJ_EX arguments not a tuple")
                }
                stack.append(try located { try semantics.call(cls, args) })
            case 0x6F: // OBJ: MARK cls args...
                var items = try popToMark()
                guard !items.isEmpty else { throw error("OBJ without a class") }
                let cls = items.removeFirst()
                stack.append(try located { try semantics.call(cls, items) })
            case 0x69: // INST: module, name operands; MARK args...
                let module = try line()
                let name = try line()
                let items = try popToMark()
                stack.append(
                    try located {
                        try semantics.call(.global(module: module, name: name), items)
                    })
            case 0x62: // BUILD
                let state = try pop()
                semantics.build(try top(), state: state)

            case 0x51: // BINPERSID
                let id = try pop()
                stack.append(try located { try persistentLoad(id, arena) })
            case 0x50: // PERSID (text id)
                let id = PickleValue.string(try line())
                stack.append(try located { try persistentLoad(id, arena) })

            default:
                if let name = Unpickler.opcodeNames[op] {
                    throw error("unsupported pickle opcode \(name) (0x\(hex(op)))")
                }
                throw error("unknown pickle opcode 0x\(hex(op))")
            }
        }
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }

    /// Names of the opcodes this reader refuses, for the error message.
    private static let opcodeNames: [UInt8: String] = [
        0x53: "STRING", 0x56: "UNICODE", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
        0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
    ]
}
