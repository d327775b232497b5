import CSwiftletABI
import Glibc
import Swiftlet

/// What a swl_stream handle points at.
final class CStream: ExclusiveHandle {
    static let noun = "stream"
    let stream: Stream
    let strings = OwnedCStrings()
    let series = SeriesStore()
    let lock = BusyFlag()
    var lastReport = RunReport()
    /// Detecting streams: each class's name as a C string, and the events of the last call.
    private var labels: [UnsafeMutablePointer<CChar>] = []
    private var events = UnsafeMutableBufferPointer<swl_detection>(start: nil, count: 0)

    init(_ stream: Stream) {
        self.stream = stream
        if let d = stream.wordDetector { labels = d.words.map { strdup($0)! } }
    }

    deinit {
        for p in labels { free(p) }
        events.deallocate()
    }

    /// The last call's detections as C structs, in stream-owned memory.
    func detections() throws(SwiftletError) -> UnsafeBufferPointer<swl_detection> {
        let found = try stream.detections
        if found.count > events.count {
            events.deallocate()
            events = .allocate(capacity: max(found.count, 2 * events.count, 8))
        }
        for (i, d) in found.enumerated() {
            events[i] = swl_detection(
                class_index: Int32(d.classIndex), score: d.score, frame: Int64(d.frame), seconds: d.seconds,
                label: UnsafePointer(labels[d.classIndex]))
        }
        return UnsafeBufferPointer(start: found.isEmpty ? nil : events.baseAddress, count: found.count)
    }
}

@c @implementation
public func swl_stream_create(
    _ model: OpaquePointer?, _ options: UnsafePointer<swl_stream_options>?,
    _ out_stream: UnsafeMutablePointer<OpaquePointer?>?
) -> swl_status {
    out_stream?.pointee = nil
    return guarded { () throws(SwiftletError) in
        guard let m = object(model, as: CModel.self) else { throw nullArgument("model") }
        guard let out_stream else { throw nullArgument("out_stream") }
        let o = try readStruct(options, defaults: .defaults, "options")
        let input: StreamInput
        switch o.input_kind {
        case SWL_STREAM_FRAMES: input = .frames
        case SWL_STREAM_PCM: input = .pcm
        default:
            throw .invalidArgument(
                "options.input_kind must be SWL_STREAM_FRAMES or SWL_STREAM_PCM, got \(o.input_kind)")
        }
        var detector: DetectorOptions? = nil
        if let p = o.detector {
            let d = try readStruct(p, defaults: .defaults, "options.detector")
            var background: [Int]? = nil
            if let list = d.background {
                guard d.n_background <= 1 << 20 else {
                    throw .invalidArgument("options.detector.n_background \(d.n_background) is too large")
                }
                background = (0..<Int(d.n_background)).map { Int(list[$0]) }
            } else if d.n_background != 0 {
                throw nullArgument("options.detector.background (n_background is \(d.n_background))")
            }
            detector = DetectorOptions(
                threshold: d.threshold, window: d.window_seconds, holdOff: d.hold_off_seconds,
                frameSeconds: d.frame_seconds == 0 ? nil : d.frame_seconds, background: background)
        }
        let s = try m.model.makeStream(
            options: StreamOptions(
                input: input, threads: Int(o.n_threads),
                shouldAbort: abortClosure(o.abort_callback, o.abort_user_data), detector: detector))
        out_stream.pointee = handle(CStream(s))
    }
}

@c @implementation
public func swl_stream_free(_ stream: OpaquePointer?) {
    release(stream, as: CStream.self)
}

@c @implementation
public func swl_stream_frame_width(_ stream: OpaquePointer?, _ out_width: UnsafeMutablePointer<UInt64>?) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let out_width else { throw nullArgument("out_width") }
        out_width.pointee = UInt64(s.stream.frameWidth)
    }
}

@c @implementation
public func swl_stream_output_width(_ stream: OpaquePointer?, _ out_width: UnsafeMutablePointer<UInt64>?) -> swl_status
{
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let out_width else { throw nullArgument("out_width") }
        out_width.pointee = UInt64(s.stream.outputWidth)
    }
}

@c @implementation
public func swl_stream_push(
    _ stream: OpaquePointer?, _ frames: UnsafePointer<Float>?, _ n_frames: UInt64,
    _ out_n_ready: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard n_frames == 0 || frames != nil else { throw nullArgument("frames") }
        let w = UInt64(s.stream.frameWidth)
        let (count, overflow) = n_frames.multipliedReportingOverflow(by: w)
        guard !overflow, count <= UInt64(Int32.max) else {
            throw .invalidArgument("n_frames \(n_frames) is too large for one push")
        }
        let n = try s.stream.push(UnsafeBufferPointer(start: frames, count: Int(count)))
        out_n_ready?.pointee = UInt64(n)
    }
}

@c @implementation
public func swl_stream_push_pcm(
    _ stream: OpaquePointer?, _ samples: UnsafePointer<Int16>?, _ n_samples: UInt64,
    _ out_n_ready: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard n_samples == 0 || samples != nil else { throw nullArgument("samples") }
        guard n_samples <= UInt64(Int32.max) else {
            throw .invalidArgument("n_samples \(n_samples) is too large for one push")
        }
        let n = try s.stream.pushPCM(UnsafeBufferPointer(start: samples, count: Int(n_samples)))
        out_n_ready?.pointee = UInt64(n)
    }
}

@c @implementation
public func swl_stream_flush(_ stream: OpaquePointer?, _ out_n_ready: UnsafeMutablePointer<UInt64>?) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        let n = try s.stream.flushInPlace()
        out_n_ready?.pointee = UInt64(n)
    }
}

@c @implementation
public func swl_stream_outputs(
    _ stream: OpaquePointer?, _ out_rows: UnsafeMutablePointer<UnsafePointer<Float>?>?,
    _ out_n_rows: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let out_rows, let out_n_rows else { throw nullArgument("out_rows/out_n_rows") }
        let rows = try s.stream.lastRows
        out_rows.pointee = rows.baseAddress
        out_n_rows.pointee = s.stream.outputWidth > 0 ? UInt64(rows.count / s.stream.outputWidth) : 0
    }
}

@c @implementation
public func swl_stream_detections(
    _ stream: OpaquePointer?, _ out_detections: UnsafeMutablePointer<UnsafePointer<swl_detection>?>?,
    _ out_count: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let out_detections, let out_count else { throw nullArgument("out_detections/out_count") }
        out_detections.pointee = nil
        out_count.pointee = 0
        let found = try s.detections()
        out_detections.pointee = found.baseAddress
        out_count.pointee = UInt64(found.count)
    }
}

@c @implementation
public func swl_stream_reset(_ stream: OpaquePointer?) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        try s.stream.reset()
    }
}

@c @implementation
public func swl_stream_set_budget(_ stream: OpaquePointer?, _ budget: UnsafePointer<swl_budget>?) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        try s.stream.setBudget(try swiftBudget(from: budget))
    }
}

@c @implementation
public func swl_stream_report(_ stream: OpaquePointer?, _ report: UnsafeMutablePointer<swl_run_report>?) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let report else { throw nullArgument("report") }
        s.lastReport = try s.stream.report
        try fill(report, s.lastReport, choice: s.strings.set("choice", s.lastReport.choice))
    }
}

@c @implementation
public func swl_stream_report_values(
    _ stream: OpaquePointer?, _ name: UnsafePointer<CChar>?,
    _ out_values: UnsafeMutablePointer<UnsafePointer<Double>?>?,
    _ out_count: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        try reportValues(try s.stream.report, name, out_values, out_count) { s.series.keep(&$0) }
    }
}

@c @implementation
public func swl_stream_state_size(_ stream: OpaquePointer?, _ out_size: UnsafeMutablePointer<UInt64>?) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let out_size else { throw nullArgument("out_size") }
        out_size.pointee = UInt64(s.stream.stateSize)
    }
}

@c @implementation
public func swl_stream_save_state(
    _ stream: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ capacity: UInt64,
    _ out_written: UnsafeMutablePointer<UInt64>?
) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        let need = UInt64(s.stream.stateSize)
        out_written?.pointee = 0
        guard capacity >= need else {
            out_written?.pointee = need
            throw .bufferTooSmall(
                "the stream state needs \(need) bytes, the buffer has \(capacity) (see swl_stream_state_size)")
        }
        guard let buffer else { throw nullArgument("buffer") }
        try s.stream.saveState(into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(need)))
        out_written?.pointee = need
    }
}

@c @implementation
public func swl_stream_load_state(_ stream: OpaquePointer?, _ buffer: UnsafeRawPointer?, _ size: UInt64) -> swl_status {
    exclusive(stream, CStream.self) { (s) throws(SwiftletError) in
        guard let buffer else { throw nullArgument("buffer") }
        guard size <= UInt64(Int32.max) else { throw .invalidArgument("size \(size) is too large") }
        try s.stream.loadState(UnsafeRawBufferPointer(start: buffer, count: Int(size)))
    }
}
