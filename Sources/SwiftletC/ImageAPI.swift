import CSwiftletABI
import Glibc
import Swiftlet

/// A caller's RGB8 buffer as the Swift API borrows it. The geometry is checked there (sizes,
/// stride); here only what the C types add: a NULL buffer and a stride beyond Int.
func borrowedImage(_ rgb: UnsafePointer<UInt8>?, _ width: UInt32, _ height: UInt32, _ rowStride: UInt64)
    throws(SwiftletError) -> BorrowedRGB8
{
    guard let rgb else { throw .invalidArgument("'rgb' must not be NULL") }
    guard rowStride <= UInt64(Int.max) else {
        throw .invalidArgument("row_stride \(rowStride) is beyond any buffer")
    }
    let w = Int(width)
    return BorrowedRGB8(base: rgb, width: w, height: Int(height), rowStride: rowStride == 0 ? 3 * w : Int(rowStride))
}

@c @implementation
public func swl_session_run_image(
    _ session: OpaquePointer?, _ rgb: UnsafePointer<UInt8>?, _ width: UInt32, _ height: UInt32,
    _ row_stride: UInt64, _ budget: UnsafePointer<swl_budget>?, _ report: UnsafeMutablePointer<swl_run_report>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        let image = try borrowedImage(rgb, width, height, row_stride)
        let b = try swiftBudget(from: budget)
        let r = try s.session.run(image: image, budget: b)
        try s.report(r, into: report)
    }
}

@c @implementation
public func swl_model_preprocess_image(
    _ model: OpaquePointer?, _ rgb: UnsafePointer<UInt8>?, _ width: UInt32, _ height: UInt32,
    _ row_stride: UInt64, _ out: UnsafeMutablePointer<swl_tensor>?
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let out else { throw nullArgument("out") }
        var o = out.pointee
        guard o.struct_size >= UInt32(MemoryLayout<swl_tensor>.size) else {
            throw .invalidArgument("out->struct_size is \(o.struct_size); initialise it with swl_tensor_init")
        }
        guard o.data != nil || o.size_bytes == 0 else {
            throw .invalidArgument("out->data is NULL but size_bytes is \(o.size_bytes)")
        }
        let image = try borrowedImage(rgb, width, height, row_stride)
        let shape = try m.model.imageInputShape
        // The image is checked (sizes, stride) before anything is written.
        try m.model.checkImage(image)
        o.dtype = SWL_DTYPE_F32
        setShape(&o, shape)
        let need = UInt64(shape.reduce(1, *) * 4)
        guard o.size_bytes >= need, let data = o.data else {
            out.pointee = o
            throw .bufferTooSmall("out needs \(need) bytes for shape \(shape), the buffer has \(o.size_bytes)")
        }
        try m.model.preprocess(image, into: data.assumingMemoryBound(to: Float.self))
        out.pointee = o
    }
}
