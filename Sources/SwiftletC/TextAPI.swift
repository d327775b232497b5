import CSwiftletABI
import Glibc
import Swiftlet

@c @implementation
public func swl_model_has_tokenizer(_ model: OpaquePointer?) -> Int32 {
    object(model, as: CModel.self)?.model.hasTokenizer == true ? 1 : 0
}

@c @implementation
public func swl_model_token_is_special(_ model: OpaquePointer?, _ id: Int32) -> Int32 {
    object(model, as: CModel.self)?.model.isSpecialToken(id) == true ? 1 : 0
}

/// `count` elements at `pointer` (NULL only with a count of 0), checked for a size Swift can index.
private func input<T>(
    _ pointer: UnsafePointer<T>?, _ count: UInt64, _ name: String, function: String = #function
) throws(SwiftletError) -> UnsafeBufferPointer<T> {
    guard pointer != nil || count == 0 else { throw nullArgument(name, function) }
    guard count <= UInt64(Int32.max) else { throw .invalidArgument("\(name) has \(count) elements; too many") }
    return UnsafeBufferPointer(start: pointer, count: Int(count))
}

/// Checks a caller's output buffer: NULL only with a capacity of 0 (which asks for the size).
private func checkOutput<T>(_ pointer: UnsafeMutablePointer<T>?, _ capacity: UInt64, _ name: String)
    throws(SwiftletError)
{
    guard pointer != nil || capacity == 0 else { throw .invalidArgument("\(name) is NULL but capacity is \(capacity)") }
}

@c @implementation
public func swl_tokenize(
    _ model: OpaquePointer?, _ text: UnsafePointer<CChar>?, _ text_len: UInt64, _ ids: UnsafeMutablePointer<Int32>?,
    _ capacity: UInt64, _ out_n_ids: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let out_n_ids else { throw nullArgument("out_n_ids") }
        try checkOutput(ids, capacity, "ids")
        let chars = try input(text, text_len, "text")
        let bytes = UnsafeBufferPointer(
            start: UnsafeRawPointer(chars.baseAddress)?.assumingMemoryBound(to: UInt8.self), count: chars.count)
        let tokens = try m.model.tokenize(utf8: bytes)
        out_n_ids.pointee = UInt64(tokens.count)
        guard UInt64(tokens.count) <= capacity else {
            throw .bufferTooSmall("the text has \(tokens.count) tokens; ids holds \(capacity)")
        }
        if let ids { tokens.withUnsafeBufferPointer { ids.update(from: $0.baseAddress!, count: $0.count) } }
    }
}

private func skipSpecial(_ flags: UInt32) throws(SwiftletError) -> Bool {
    let known = UInt32(SWL_DETOKENIZE_SKIP_SPECIAL)
    guard flags & ~known == 0 else {
        throw .invalidArgument("flags has unknown bits 0x\(String(flags & ~known, radix: 16))")
    }
    return flags & known != 0
}

@c @implementation
public func swl_detokenize(
    _ model: OpaquePointer?, _ ids: UnsafePointer<Int32>?, _ n_ids: UInt64, _ flags: UInt32,
    _ text: UnsafeMutablePointer<CChar>?, _ capacity: UInt64, _ out_len: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let out_len else { throw nullArgument("out_len") }
        try checkOutput(text, capacity, "text")
        var decoded = try m.model.detokenize(Array(try input(ids, n_ids, "ids")), skipSpecial: try skipSpecial(flags))
        let length = decoded.utf8.count
        out_len.pointee = UInt64(length)
        guard UInt64(length) < capacity else {
            throw .bufferTooSmall("the text is \(length) bytes; text must hold \(length + 1) with the NUL")
        }
        decoded.withUTF8 { utf8 in
            if let from = utf8.baseAddress { UnsafeMutableRawPointer(text!).copyMemory(from: from, byteCount: length) }
        }
        text![length] = 0
    }
}

/// What a swl_detokenizer handle points at: the decoder and the text of its last call.
final class CDetokenizer: ExclusiveHandle {
    static let noun = "detokenizer"
    var decoder: Detokenizer
    let lock = BusyFlag()
    private var buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 1)

    init(_ decoder: Detokenizer) { self.decoder = decoder }
    deinit { buffer.deallocate() }

    /// Copies `text` into the handle's buffer (NUL-terminated; text may itself hold NUL bytes).
    func hold(
        _ text: String, _ out_text: UnsafeMutablePointer<UnsafePointer<CChar>?>,
        _ out_len: UnsafeMutablePointer<UInt64>?
    ) {
        let utf8 = Array(text.utf8)
        buffer.deallocate()
        buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
        for (i, b) in utf8.enumerated() { buffer[i] = CChar(bitPattern: b) }
        buffer[utf8.count] = 0
        out_text.pointee = UnsafePointer(buffer)
        out_len?.pointee = UInt64(utf8.count)
    }
}

@c @implementation
public func swl_detokenizer_create(
    _ model: OpaquePointer?, _ flags: UInt32, _ out_detokenizer: UnsafeMutablePointer<OpaquePointer?>?
) -> swl_status {
    out_detokenizer?.pointee = nil
    return guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let out_detokenizer else { throw nullArgument("out_detokenizer") }
        let d = try m.model.detokenizer(skipSpecial: try skipSpecial(flags))
        out_detokenizer.pointee = handle(CDetokenizer(d))
    }
}

@c @implementation
public func swl_detokenizer_free(_ detokenizer: OpaquePointer?) {
    release(detokenizer, as: CDetokenizer.self)
}

@c @implementation
public func swl_detokenizer_push(
    _ detokenizer: OpaquePointer?, _ id: Int32, _ out_text: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
    _ out_len: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    detokenize(detokenizer, out_text, out_len) { d throws(SwiftletError) in try d.decoder.append(id) }
}

@c @implementation
public func swl_detokenizer_flush(
    _ detokenizer: OpaquePointer?, _ out_text: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
    _ out_len: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    detokenize(detokenizer, out_text, out_len) { d in d.decoder.finish() }
}

/// swl_detokenizer_push and _flush: the text `next` gives, held by the handle until its next call.
/// `function`, the C function, names itself in the errors.
private func detokenize(
    _ detokenizer: OpaquePointer?, _ out_text: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
    _ out_len: UnsafeMutablePointer<UInt64>?, function: String = #function,
    _ next: (CDetokenizer) throws(SwiftletError) -> String
) -> swl_status {
    exclusive(detokenizer, CDetokenizer.self, function: function) { (d) throws(SwiftletError) in
        guard let out_text else { throw nullArgument("out_text", function) }
        d.hold(try next(d), out_text, out_len)
    }
}
