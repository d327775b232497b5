import CSwiftletABI
import Glibc
import Swiftlet

/// What a swl_model handle points at: the Swift model plus the C strings the model owns.
final class CModel {
    let model: Model
    let family: UnsafePointer<CChar>
    let keys: [String]
    let keyStrings: [UnsafeMutablePointer<CChar>]
    let valueStrings: [String: UnsafeMutablePointer<CChar>]
    let inputNames: [UnsafeMutablePointer<CChar>]
    let outputNames: [UnsafeMutablePointer<CChar>]
    let labelStrings: [UnsafeMutablePointer<CChar>]

    init(_ model: Model) {
        self.model = model
        family = UnsafePointer(strdup(model.family)!)
        keys = model.metadata.keys.sorted()
        keyStrings = keys.map { strdup($0)! }
        var values: [String: UnsafeMutablePointer<CChar>] = [:]
        for k in keys { values[k] = strdup(model.metadataText(k) ?? "")! }
        valueStrings = values
        inputNames = model.inputs.map { strdup($0.name)! }
        outputNames = model.outputs.map { strdup($0.name)! }
        labelStrings = model.labels.map { strdup($0)! }
    }

    deinit {
        free(UnsafeMutablePointer(mutating: family))
        for p in keyStrings + inputNames + outputNames + labelStrings { free(p) }
        for p in valueStrings.values { free(p) }
    }
}

func handle<T: AnyObject>(_ object: T) -> OpaquePointer {
    OpaquePointer(Unmanaged.passRetained(object).toOpaque())
}

func object<T: AnyObject>(_ pointer: OpaquePointer?, as: T.Type) -> T? {
    pointer.map { Unmanaged<T>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

func release<T: AnyObject>(_ pointer: OpaquePointer?, as: T.Type) {
    if let pointer { Unmanaged<T>.fromOpaque(UnsafeRawPointer(pointer)).release() }
}

private func loadOptions(_ p: UnsafePointer<swl_load_options>?) throws(SwiftletError) -> swl_load_options {
    let o = try readStruct(p, defaults: .defaults, "options")
    let known = UInt32(SWL_LOAD_VERIFY_EAGER | SWL_LOAD_COPY_BUFFER)
    guard o.flags & ~known == 0 else {
        throw .invalidArgument("options.flags has unknown bits 0x\(String(o.flags & ~known, radix: 16))")
    }
    return o
}

@c @implementation
public func swl_model_load(
    _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<swl_load_options>?,
    _ out_model: UnsafeMutablePointer<OpaquePointer?>?
) -> swl_status {
    out_model?.pointee = nil
    return guarded { () throws(SwiftletError) in
        guard let out_model else { throw nullArgument("out_model") }
        guard let path else { throw nullArgument("path") }
        let o = try loadOptions(options)
        let model = try Model(
            path: String(cString: path),
            options: LoadOptions(verifyEagerly: o.flags & UInt32(SWL_LOAD_VERIFY_EAGER) != 0))
        out_model.pointee = handle(CModel(model))
    }
}

@c @implementation
public func swl_model_load_memory(
    _ data: UnsafeRawPointer?, _ size: UInt64, _ options: UnsafePointer<swl_load_options>?,
    _ out_model: UnsafeMutablePointer<OpaquePointer?>?
) -> swl_status {
    out_model?.pointee = nil
    return guarded { () throws(SwiftletError) in
        guard let out_model else { throw nullArgument("out_model") }
        guard let data else { throw nullArgument("data") }
        guard size <= UInt64(Int.max) else { throw .invalidArgument("size \(size) is too large") }
        let o = try loadOptions(options)
        let model = try Model(
            bytes: UnsafeRawBufferPointer(start: data, count: Int(size)),
            copy: o.flags & UInt32(SWL_LOAD_COPY_BUFFER) != 0,
            options: LoadOptions(verifyEagerly: o.flags & UInt32(SWL_LOAD_VERIFY_EAGER) != 0))
        out_model.pointee = handle(CModel(model))
    }
}

@c @implementation
public func swl_model_free(_ model: OpaquePointer?) {
    release(model, as: CModel.self)
}

@c @implementation
public func swl_model_family(_ model: OpaquePointer?) -> UnsafePointer<CChar>? {
    object(model, as: CModel.self)?.family
}

@c @implementation
public func swl_model_metadata(
    _ model: OpaquePointer?, _ key: UnsafePointer<CChar>?,
    _ out_value: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let key else { throw nullArgument("key") }
        guard let out_value else { throw nullArgument("out_value") }
        let k = String(cString: key)
        guard let v = m.valueStrings[k] else { throw .notFound("the model has no metadata key '\(k)'") }
        out_value.pointee = UnsafePointer(v)
    }
}

@c @implementation
public func swl_model_metadata_count(_ model: OpaquePointer?) -> UInt32 {
    UInt32(object(model, as: CModel.self)?.keys.count ?? 0)
}

/// The index-th of a model's C strings (metadata keys, labels) into `out`; `past` says why an index
/// past the end finds nothing.
private func modelString(
    _ model: OpaquePointer?, _ index: UInt32, _ out: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ outName: String,
    _ list: (CModel) -> [UnsafeMutablePointer<CChar>], past: @escaping (Int) -> String,
    function: String = #function
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model", function) }
        guard let out else { throw nullArgument(outName, function) }
        let strings = list(m)
        guard Int(index) < strings.count else { throw .notFound(past(strings.count)) }
        out.pointee = UnsafePointer(strings[Int(index)])
    }
}

@c @implementation
public func swl_model_metadata_key(
    _ model: OpaquePointer?, _ index: UInt32,
    _ out_key: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> swl_status {
    modelString(model, index, out_key, "out_key", \.keyStrings) {
        "metadata index \(index) is past the last key (\($0) keys)"
    }
}

@c @implementation
public func swl_model_label_count(_ model: OpaquePointer?) -> UInt32 {
    UInt32(object(model, as: CModel.self)?.labelStrings.count ?? 0)
}

@c @implementation
public func swl_model_label(
    _ model: OpaquePointer?, _ index: UInt32,
    _ out_label: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> swl_status {
    modelString(model, index, out_label, "out_label", \.labelStrings) {
        $0 == 0
            ? "the model carries no class names (convert it with --labels)"
            : "class \(index) is past the last label (\($0) classes)"
    }
}

@c @implementation
public func swl_model_input_count(_ model: OpaquePointer?) -> UInt32 {
    UInt32(object(model, as: CModel.self)?.model.inputs.count ?? 0)
}

@c @implementation
public func swl_model_output_count(_ model: OpaquePointer?) -> UInt32 {
    UInt32(object(model, as: CModel.self)?.model.outputs.count ?? 0)
}

private func info(
    _ model: OpaquePointer?, _ index: UInt32, _ out: UnsafeMutablePointer<swl_tensor_info>?,
    inputs: Bool, function: String = #function
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model", function) }
        guard let out else { throw nullArgument("out_info", function) }
        let list = inputs ? m.model.inputs : m.model.outputs
        guard Int(index) < list.count else {
            throw .notFound(
                "the model has \(list.count) \(inputs ? "inputs" : "outputs"); index \(index) is past the end")
        }
        let t = list[Int(index)]
        var i = swl_tensor_info()
        i.struct_size = UInt32(MemoryLayout<swl_tensor_info>.size)
        i.dtype = t.dtype.rawValue
        i.n_dims = Int32(t.shape.count)
        withUnsafeMutableBytes(of: &i.shape) { raw in
            let dims = raw.bindMemory(to: Int64.self)
            for (d, v) in t.shape.enumerated() { dims[d] = Int64(v) }
        }
        i.name = UnsafePointer(inputs ? m.inputNames[Int(index)] : m.outputNames[Int(index)])
        try writeStruct(i, to: out, "info")
    }
}

@c @implementation
public func swl_model_input_info(
    _ model: OpaquePointer?, _ index: UInt32, _ out_info: UnsafeMutablePointer<swl_tensor_info>?
) -> swl_status {
    info(model, index, out_info, inputs: true)
}

@c @implementation
public func swl_model_output_info(
    _ model: OpaquePointer?, _ index: UInt32, _ out_info: UnsafeMutablePointer<swl_tensor_info>?
) -> swl_status {
    info(model, index, out_info, inputs: false)
}
