import CSwiftletABI
import Glibc
import Swiftlet

/// Reads a caller's versioned struct: only its first struct_size bytes, the rest from `defaults`, so
/// a program built against an older, shorter struct keeps working.
func readStruct<T>(_ pointer: UnsafePointer<T>?, defaults: T, _ what: String) throws(SwiftletError) -> T {
    guard let pointer else { return defaults }
    let size = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
    guard size >= MemoryLayout<UInt32>.size else {
        throw .invalidArgument("\(what).struct_size is \(size); initialise the struct with its _init function first")
    }
    var value = defaults
    withUnsafeMutableBytes(of: &value) { dst in
        _ = memcpy(dst.baseAddress!, pointer, min(size, MemoryLayout<T>.size))
    }
    return value
}

/// Writes `value` into a caller's versioned struct, no more than its struct_size bytes.
func writeStruct<T>(_ value: T, to pointer: UnsafeMutablePointer<T>, _ what: String) throws(SwiftletError) {
    let size = Int(UnsafeRawPointer(pointer).load(as: UInt32.self))
    guard size >= MemoryLayout<UInt32>.size else {
        throw .invalidArgument("\(what).struct_size is \(size); initialise the struct with its _init function first")
    }
    var copy = value
    withUnsafeBytes(of: &copy) { src in
        // Keep the caller's struct_size; copy the fields after it.
        let n = min(size, MemoryLayout<T>.size)
        if n > 4 { _ = memcpy(UnsafeMutableRawPointer(pointer) + 4, src.baseAddress! + 4, n - 4) }
    }
}

/// Zeroes a struct and sets its struct_size.
func initStruct<T>(_ pointer: UnsafeMutablePointer<T>?, _ fill: (inout T) -> Void = { _ in }) {
    guard let pointer else { return }
    memset(pointer, 0, MemoryLayout<T>.size)
    UnsafeMutableRawPointer(pointer).storeBytes(of: UInt32(MemoryLayout<T>.size), as: UInt32.self)
    fill(&pointer.pointee)
}

@c @implementation
public func swl_tensor_init(_ tensor: UnsafeMutablePointer<swl_tensor>?) { initStruct(tensor) }

@c @implementation
public func swl_tensor_info_init(_ info: UnsafeMutablePointer<swl_tensor_info>?) { initStruct(info) }

@c @implementation
public func swl_load_options_init(_ options: UnsafeMutablePointer<swl_load_options>?) { initStruct(options) }

@c @implementation
public func swl_budget_init(_ budget: UnsafeMutablePointer<swl_budget>?) { initStruct(budget) }

@c @implementation
public func swl_run_report_init(_ report: UnsafeMutablePointer<swl_run_report>?) { initStruct(report) }

@c @implementation
public func swl_session_options_init(_ options: UnsafeMutablePointer<swl_session_options>?) { initStruct(options) }

@c @implementation
public func swl_stream_options_init(_ options: UnsafeMutablePointer<swl_stream_options>?) {
    initStruct(options) { $0.n_threads = 1 }
}

@c @implementation
public func swl_detector_options_init(_ options: UnsafeMutablePointer<swl_detector_options>?) {
    initStruct(options) {
        let d = DetectorOptions()
        $0.threshold = d.threshold
        $0.window_seconds = d.window
        $0.hold_off_seconds = d.holdOff
    }
}

@c @implementation
public func swl_sampler_init(_ sampler: UnsafeMutablePointer<swl_sampler>?) { initStruct(sampler) }

/// A struct as its `_init` function leaves it: what `readStruct` takes for the fields an older,
/// shorter caller struct lacks.
private func initialized<T>(_ value: T, by initFunction: (UnsafeMutablePointer<T>?) -> Void) -> T {
    var v = value
    initFunction(&v)
    return v
}

extension swl_load_options {
    static var defaults: Self { initialized(Self(), by: swl_load_options_init) }
}
extension swl_budget {
    static var defaults: Self { initialized(Self(), by: swl_budget_init) }
}
extension swl_session_options {
    static var defaults: Self { initialized(Self(), by: swl_session_options_init) }
}
extension swl_stream_options {
    static var defaults: Self { initialized(Self(), by: swl_stream_options_init) }
}
extension swl_detector_options {
    static var defaults: Self { initialized(Self(), by: swl_detector_options_init) }
}
extension swl_sampler {
    static var defaults: Self { initialized(Self(), by: swl_sampler_init) }
}

/// The Swift budget of a C budget (NULL = no budget).
func swiftBudget(from pointer: UnsafePointer<swl_budget>?) throws(SwiftletError) -> Budget {
    let b = try readStruct(pointer, defaults: .defaults, "budget")
    var out = Budget()
    if b.max_latency_ms != 0 { out.maxLatencyMs = b.max_latency_ms }
    if b.max_gflops != 0 { out.maxGFLOPs = b.max_gflops }
    if b.loops != 0 { out.loops = Int(b.loops) }
    if b.n_trajectory < 0 || b.n_trajectory > 4096 {
        throw .invalidArgument("budget.n_trajectory must be between 0 and 4096, got \(b.n_trajectory)")
    }
    if b.n_trajectory > 0 {
        guard let t = b.trajectory else {
            throw .invalidArgument("budget.trajectory is NULL but n_trajectory is \(b.n_trajectory)")
        }
        out.trajectory = (0..<Int(b.n_trajectory)).map { Double(t[$0]) }
    }
    if b.n_merge_r < 0 || b.n_merge_r > 4096 {
        throw .invalidArgument("budget.n_merge_r must be between 0 and 4096, got \(b.n_merge_r)")
    }
    if b.n_merge_r > 0 {
        guard let r = b.merge_r else {
            throw .invalidArgument("budget.merge_r is NULL but n_merge_r is \(b.n_merge_r)")
        }
        out.mergeR = (0..<Int(b.n_merge_r)).map { Int(r[$0]) }
    }
    if b.early_fraction != 0 { out.earlyFraction = b.early_fraction }
    if b.early_margin != 0 { out.earlyMargin = b.early_margin }
    if b.expected_frames != 0 { out.expectedFrames = Int(b.expected_frames) }
    if b.min_quality != 0 { out.minQuality = b.min_quality }
    if b.generation_ms != 0 { out.generationMs = b.generation_ms }
    if b.generation_tokens != 0 {
        guard b.generation_tokens > 0, b.generation_tokens <= Int64(Int32.max) else {
            throw .budget("budget.generation_tokens must be between 1 and 2^31 - 1, got \(b.generation_tokens)")
        }
        out.generationTokens = Int(b.generation_tokens)
    }
    return out
}

/// Fills a C report from a Swift one; `choice` must stay alive until the owner's next call.
func fill(_ pointer: UnsafeMutablePointer<swl_run_report>?, _ r: RunReport, choice: UnsafePointer<CChar>?)
    throws(SwiftletError)
{
    guard let pointer else { return }
    var c = swl_run_report()
    c.struct_size = UInt32(MemoryLayout<swl_run_report>.size)
    c.completed = r.completed ? 1 : 0
    c.microseconds = r.microseconds
    c.gflops = r.gflops
    c.loops = Int32(clamping: r.loops)
    c.layers = Int32(clamping: r.layers)
    c.tokens_kept = Int64(r.tokensKept)
    c.frames_used = Int64(r.framesUsed)
    c.decided = r.decided ? 1 : 0
    c.choice = choice
    c.threads_used = Int32(clamping: r.threadsUsed)
    c.predicted_us = r.predictedMicroseconds
    c.deadline_met = r.deadlineMet.map { $0 ? 1 : 0 } ?? -1
    c.predicted_quality = r.predictedQuality ?? 0
    try writeStruct(c, to: pointer, "report")
}

/// Converts a caller's tensor descriptor into a borrowed view, checking every field.
func view(of t: swl_tensor, index: Int) throws(SwiftletError) -> TensorView {
    guard t.struct_size >= UInt32(MemoryLayout<swl_tensor>.size) else {
        throw .invalidArgument("inputs[\(index)].struct_size is \(t.struct_size); initialise it with swl_tensor_init")
    }
    guard let dtype = ElementType(rawValue: t.dtype) else {
        throw .invalidArgument("inputs[\(index)].dtype \(t.dtype) is not an SWL_DTYPE_* value")
    }
    guard (0...Int32(SWL_MAX_DIMS)).contains(t.n_dims) else {
        throw .shape("inputs[\(index)].n_dims must be between 0 and \(SWL_MAX_DIMS), got \(t.n_dims)")
    }
    var shape: [Int] = []
    var count = 1
    let dims = withUnsafeBytes(of: t.shape) { Array($0.bindMemory(to: Int64.self)) }
    for d in 0..<Int(t.n_dims) {
        let v = dims[d]
        guard v >= 0, v <= Int64(Int32.max) else { throw .shape("inputs[\(index)].shape[\(d)] is \(v)") }
        shape.append(Int(v))
        let (m, o) = count.multipliedReportingOverflow(by: Int(v))
        guard !o else { throw .shape("inputs[\(index)] has too many elements") }
        count = m
    }
    let (bytes, o) = count.multipliedReportingOverflow(by: dtype.size)
    guard !o, UInt64(bytes) <= t.size_bytes else {
        throw .shape(
            "inputs[\(index)] needs \(count) × \(dtype.size) bytes for shape \(shape), but size_bytes is \(t.size_bytes)"
        )
    }
    guard let data = t.data ?? (count == 0 ? UnsafeMutableRawPointer(bitPattern: 16) : nil) else {
        throw .invalidArgument("inputs[\(index)].data is NULL")
    }
    return TensorView(dtype: dtype, shape: shape, data: UnsafeRawPointer(data))
}

func setShape(_ t: inout swl_tensor, _ shape: [Int]) {
    t.n_dims = Int32(shape.count)
    withUnsafeMutableBytes(of: &t.shape) { raw in
        let dims = raw.bindMemory(to: Int64.self)
        for i in 0..<dims.count { dims[i] = i < shape.count ? Int64(shape[i]) : 0 }
    }
}
