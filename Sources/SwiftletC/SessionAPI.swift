import CSwiftletABI
import Glibc
import Swiftlet

/// What a swl_session handle points at.
final class CSession: ExclusiveHandle {
    static let noun = "session"
    let session: Session
    let strings = OwnedCStrings()
    let series = SeriesStore()
    let lock = BusyFlag()
    var choice: UnsafePointer<CChar>?

    init(_ session: Session) { self.session = session }

    func report(_ r: RunReport, into p: UnsafeMutablePointer<swl_run_report>?) throws(SwiftletError) {
        choice = strings.set("choice", r.choice)
        try fill(p, r, choice: choice)
    }
}

/// Wraps a C abort callback as a Swift closure.
func abortClosure(_ callback: swl_abort_callback?, _ userData: UnsafeMutableRawPointer?) -> (@Sendable () -> Bool)? {
    guard let callback else { return nil }
    let context = UInt(bitPattern: userData)
    return { callback(UnsafeMutableRawPointer(bitPattern: context)) != 0 }
}

@c @implementation
public func swl_session_create(
    _ model: OpaquePointer?, _ options: UnsafePointer<swl_session_options>?,
    _ out_session: UnsafeMutablePointer<OpaquePointer?>?
) -> swl_status {
    out_session?.pointee = nil
    return guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let out_session else { throw nullArgument("out_session") }
        let o = try readStruct(options, defaults: .defaults, "options")
        let session = try m.model.makeSession(
            options: SessionOptions(
                threads: Int(o.n_threads), shouldAbort: abortClosure(o.abort_callback, o.abort_user_data),
                calibrate: o.flags & UInt32(SWL_SESSION_CALIBRATE) != 0))
        out_session.pointee = handle(CSession(session))
    }
}

@c @implementation
public func swl_session_free(_ session: OpaquePointer?) {
    release(session, as: CSession.self)
}

@c @implementation
public func swl_session_run(
    _ session: OpaquePointer?, _ inputs: UnsafePointer<swl_tensor>?, _ n_inputs: UInt32,
    _ outputs: UnsafeMutablePointer<swl_tensor>?, _ n_outputs: UInt32,
    _ budget: UnsafePointer<swl_budget>?, _ report: UnsafeMutablePointer<swl_run_report>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        guard n_inputs == 0 || inputs != nil else { throw nullArgument("inputs") }
        guard n_outputs == 0 || outputs != nil else { throw nullArgument("outputs") }
        // Check the count before reading any tensor: never read past the inputs the model takes.
        let expected = s.session.model.inputs.count
        guard Int(n_inputs) == expected else {
            throw .invalidArgument("the model takes \(expected) input(s), n_inputs is \(n_inputs)")
        }
        var views: [TensorView] = []
        for i in 0..<Int(n_inputs) { views.append(try view(of: inputs![i], index: i)) }
        // Output descriptors are checked before the run: a NULL buffer that claims a size is a
        // caller's mistake, not a buffer too small (NULL with size 0 asks for the shapes only).
        for i in 0..<Int(n_outputs) {
            let o = outputs![i]
            guard o.struct_size >= UInt32(MemoryLayout<swl_tensor>.size) else {
                throw .invalidArgument(
                    "outputs[\(i)].struct_size is \(o.struct_size); initialise it with swl_tensor_init")
            }
            guard o.data != nil || o.size_bytes == 0 else {
                throw .invalidArgument("outputs[\(i)].data is NULL but size_bytes is \(o.size_bytes)")
            }
        }
        let b = try swiftBudget(from: budget)
        let r = try s.session.run(views: views, budget: b)
        if let outputs, n_outputs > 0 {
            let results = try s.session.lastOutputs
            guard Int(n_outputs) <= results.count else {
                throw .invalidArgument("the model has \(results.count) outputs, but n_outputs is \(n_outputs)")
            }
            var tooSmall: String?
            for i in 0..<Int(n_outputs) {
                let t = results[i]
                var o = outputs[i]
                o.dtype = SWL_DTYPE_F32
                setShape(&o, t.shape)
                let need = UInt64(t.values.count * 4)
                if o.size_bytes < need || (need > 0 && o.data == nil) {
                    tooSmall =
                        tooSmall
                        ?? "outputs[\(i)] needs \(need) bytes for shape \(t.shape), the buffer has \(o.size_bytes)"
                } else if need > 0 {
                    t.values.withUnsafeBytes { _ = memcpy(o.data!, $0.baseAddress!, Int(need)) }
                }
                outputs[i] = o
            }
            if let tooSmall { throw .bufferTooSmall(tooSmall) }
        }
        try s.report(r, into: report)
    }
}

@c @implementation
public func swl_session_output(_ session: OpaquePointer?, _ index: UInt32, _ out: UnsafeMutablePointer<swl_tensor>?)
    -> swl_status
{
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        guard let out else { throw nullArgument("out") }
        let results = try s.session.lastOutputs
        guard Int(index) < results.count else {
            throw .notFound("output \(index) does not exist: the last run produced \(results.count) outputs")
        }
        var t = swl_tensor()
        t.struct_size = UInt32(MemoryLayout<swl_tensor>.size)
        t.dtype = SWL_DTYPE_F32
        setShape(&t, results[Int(index)].shape)
        // The array lives in the session until its next run, so its storage stays put.
        t.data = results[Int(index)].values.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress) }
        t.size_bytes = UInt64(results[Int(index)].values.count * 4)
        out.pointee = t
    }
}

/// Shared by sessions and streams: a named series of the last report.
func reportValues(
    _ r: RunReport, _ name: UnsafePointer<CChar>?, _ out_values: UnsafeMutablePointer<UnsafePointer<Double>?>?,
    _ out_count: UnsafeMutablePointer<UInt64>?, keep: (inout [Double]) -> UnsafePointer<Double>?,
    function: String = #function
) throws(SwiftletError) {
    guard let name else { throw nullArgument("name", function) }
    guard let out_values else { throw nullArgument("out_values", function) }
    guard let out_count else { throw nullArgument("out_count", function) }
    let key = String(cString: name)
    guard var values = r.values[key] else {
        let known = r.values.keys.sorted().joined(separator: ", ")
        throw .notFound("the last report has no series '\(key)' (it has: \(known.isEmpty ? "none" : known))")
    }
    out_values.pointee = keep(&values)
    out_count.pointee = UInt64(values.count)
}

/// Report series handed to C: kept until the owner's next report call.
final class SeriesStore {
    private var buffer: UnsafeMutablePointer<Double>?
    func keep(_ values: inout [Double]) -> UnsafePointer<Double>? {
        buffer?.deallocate()
        let p = UnsafeMutablePointer<Double>.allocate(capacity: max(values.count, 1))
        p.initialize(from: values, count: values.count)
        buffer = p
        return UnsafePointer(p)
    }
    deinit { buffer?.deallocate() }
}

@c @implementation
public func swl_session_report_values(
    _ session: OpaquePointer?, _ name: UnsafePointer<CChar>?,
    _ out_values: UnsafeMutablePointer<UnsafePointer<Double>?>?,
    _ out_count: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        try reportValues(try s.session.lastReport, name, out_values, out_count) { s.series.keep(&$0) }
    }
}

@c @implementation
public func swl_session_prefill(
    _ session: OpaquePointer?, _ token_ids: UnsafePointer<Int32>?, _ n_tokens: UInt64,
    _ budget: UnsafePointer<swl_budget>?, _ report: UnsafeMutablePointer<swl_run_report>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        guard let token_ids else { throw nullArgument("token_ids") }
        guard n_tokens <= UInt64(Int32.max) else { throw .invalidArgument("n_tokens \(n_tokens) is too large") }
        let b = try swiftBudget(from: budget)
        let r = try s.session.prefill(UnsafeBufferPointer(start: token_ids, count: Int(n_tokens)), budget: b)
        try s.report(r, into: report)
    }
}

@c @implementation
public func swl_session_decode(
    _ session: OpaquePointer?, _ token_id: Int32, _ report: UnsafeMutablePointer<swl_run_report>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        let r = try s.session.decode(token_id)
        try s.report(r, into: report)
    }
}

@c @implementation
public func swl_session_logits(
    _ session: OpaquePointer?, _ out_logits: UnsafeMutablePointer<UnsafePointer<Float>?>?,
    _ out_n_positions: UnsafeMutablePointer<UInt64>?, _ out_vocab_size: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        guard let out_logits, let out_n_positions, let out_vocab_size else {
            throw nullArgument("out_logits/out_n_positions/out_vocab_size")
        }
        let l = try s.session.logits
        let v = s.session.vocabSize
        guard v > 0, l.count > 0 else {
            throw .state("no logits yet: call swl_session_prefill first (language models only)")
        }
        out_logits.pointee = l.baseAddress
        out_n_positions.pointee = UInt64(l.count / v)
        out_vocab_size.pointee = UInt64(v)
    }
}

@c @implementation
public func swl_session_last_logits(
    _ session: OpaquePointer?, _ out_logits: UnsafeMutablePointer<UnsafePointer<Float>?>?,
    _ out_vocab_size: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        guard let out_logits, let out_vocab_size else { throw nullArgument("out_logits/out_vocab_size") }
        let l = try s.session.lastLogits
        guard l.count > 0 else {
            throw .state("no logits yet: call swl_session_prefill first (language models only)")
        }
        out_logits.pointee = l.baseAddress
        out_vocab_size.pointee = UInt64(l.count)
    }
}

@c @implementation
public func swl_session_position(
    _ session: OpaquePointer?, _ out_position: UnsafeMutablePointer<UInt64>?,
    _ out_context_length: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(session, CSession.self) { (s) throws(SwiftletError) in
        guard let out_position, let out_context_length else {
            throw nullArgument("out_position/out_context_length")
        }
        out_position.pointee = UInt64(try s.session.position)
        out_context_length.pointee = UInt64(s.session.contextLength)
    }
}

@c @implementation
public func swl_sample(
    _ logits: UnsafePointer<Float>?, _ vocab_size: UInt64, _ sampler: UnsafePointer<swl_sampler>?,
    _ rng_state: UnsafeMutablePointer<UInt64>?, _ out_token: UnsafeMutablePointer<Int32>?
) -> swl_status {
    guarded { () throws(SwiftletError) in
        guard let logits else { throw nullArgument("logits") }
        guard let rng_state else { throw nullArgument("rng_state") }
        guard let out_token else { throw nullArgument("out_token") }
        guard vocab_size > 0, vocab_size <= UInt64(Int32.max) else {
            throw .invalidArgument("vocab_size must be between 1 and 2^31-1, got \(vocab_size)")
        }
        let o = try readStruct(sampler, defaults: .defaults, "sampler")
        let s = Sampler(temperature: o.temperature, topK: Int(o.top_k))
        out_token.pointee = try s.sample(
            UnsafeBufferPointer(start: logits, count: Int(vocab_size)), state: &rng_state.pointee)
    }
}
