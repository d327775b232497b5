import Glibc

/// A word found in a stream: which class, where in the audio, how sure.
public struct Detection: Sendable, Equatable {
    /// The class (the model's output column).
    public var classIndex: Int
    /// Its name: the model's `general.labels` (or the names the detector was given); "class N" when
    /// the classes have none.
    public var word: String
    /// Where the word is: the centre of the smoothing window at the peak, as a frame index counted
    /// from the stream's start (or last reset) and in seconds (frame × frame duration).
    public var frame: Int
    public var seconds: Double
    /// The smoothed posterior at the peak, at least the threshold.
    public var score: Float

    public init(classIndex: Int, word: String, frame: Int, seconds: Double, score: Float) {
        self.classIndex = classIndex
        self.word = word
        self.frame = frame
        self.seconds = seconds
        self.score = score
    }
}

/// How a `WordDetector` turns per-frame class scores into words.
public struct DetectorOptions: Sendable, Equatable {
    /// The smoothed posterior a word class must reach, in (0, 1].
    public var threshold: Double
    /// Seconds of posteriors averaged (> 0).
    public var window: Double
    /// Seconds, after a reported word's score has fallen below the threshold, during which no word
    /// starts (≥ 0): one word, even with a dip in its score, gives one event.
    public var holdOff: Double
    /// Seconds per frame; nil: the model's audio frame shift (10 ms for the LMUFormer front end),
    /// or 10 ms for a model without one.
    public var frameSeconds: Double?
    /// Classes never reported (silence, unknown, noise); nil: the classes whose label says so
    /// (`DetectorOptions.isBackground(label:)`).
    public var background: [Int]?

    public init(
        threshold: Double = 0.5, window: Double = 0.3, holdOff: Double = 0.3, frameSeconds: Double? = nil,
        background: [Int]? = nil
    ) {
        self.threshold = threshold
        self.window = window
        self.holdOff = holdOff
        self.frameSeconds = frameSeconds
        self.background = background
    }

    /// Labels of classes that are not words: `silence`, `unknown`, `background`, `background_noise`
    /// and `noise`, in any case and with any leading or trailing `_`, `-` or spaces — the Speech
    /// Commands names `_silence_`, `_unknown_`, `_background_noise_` among them.
    public static func isBackground(label: String) -> Bool {
        let trim: Set<Character> = ["_", "-", " "]
        var s = Substring(label.lowercased())
        while let c = s.first, trim.contains(c) { s = s.dropFirst() }
        while let c = s.last, trim.contains(c) { s = s.dropLast() }
        return ["silence", "unknown", "background", "background_noise", "noise"].contains(String(s))
    }
}

/// Word detection (keyword spotting) over per-frame class scores, for any model that scores frames.
///
/// Per frame: the posteriors (softmax of the frame's logits) are averaged over the last `window`
/// seconds (fewer at the start). A word class — not a background class — whose smoothed posterior
/// reaches `threshold` opens a candidate; the candidate follows its class's peak and is reported once
/// that class falls below the threshold, or one window after its peak, whichever comes first (so a
/// word is reported at most `window` seconds after its peak). After a report no word starts until
/// `holdOff` seconds after the reported class has fallen below the threshold, and that class fires
/// again only once it has.
/// The event gives the peak's score and the centre of its window.
///
/// Feed rows in order with `push`; `flush` reports a candidate still open at the end of the input.
/// A value type: copy it to fork the state. `Stream` runs one for streams made with a detector.
public struct WordDetector: Sendable {
    public let options: DetectorOptions
    public let classes: Int
    /// Class names, `classes` of them ("class N" where none was given).
    public let words: [String]
    /// Whether each class may be reported.
    public let isWord: [Bool]
    public let frameSeconds: Double
    public let windowFrames: Int
    public let holdFrames: Int

    private var ring: [Float] // windowFrames × classes posteriors, frame t at row t % windowFrames
    private var sum: [Double]
    private var posterior: [Float]
    private var framesSeen = 0
    private var candidate: (cls: Int, score: Float, frame: Int, centre: Double)?
    private var quietUntil = 0
    private var disarmed: [Bool]

    /// - Parameters:
    ///   - classes: the width of a row of scores.
    ///   - labels: the class names (empty, or one per class); they name events and, without
    ///     `options.background`, pick the background classes.
    ///   - frameSeconds: the frame duration when `options.frameSeconds` is nil.
    public init(
        classes: Int, labels: [String] = [], options: DetectorOptions = DetectorOptions(), frameSeconds: Double = 0.01
    ) throws(SwiftletError) {
        guard classes >= 1, classes <= 1 << 20 else {
            throw .invalidArgument("a word detector needs 1 to 2^20 classes, got \(classes)")
        }
        guard labels.isEmpty || labels.count == classes else {
            throw .invalidArgument("\(labels.count) labels for \(classes) classes; give one per class or none")
        }
        let t = options.threshold
        guard t.isFinite, t > 0, t <= 1 else {
            throw .invalidArgument("the detection threshold must be in (0, 1], got \(t)")
        }
        let seconds = options.frameSeconds ?? frameSeconds
        guard seconds.isFinite, seconds > 0, seconds <= 3600 else {
            throw .invalidArgument("the frame duration must be in (0, 3600] seconds, got \(seconds)")
        }
        guard options.window.isFinite, options.window > 0, options.window / seconds <= Double(1 << 20) else {
            throw .invalidArgument(
                "the smoothing window must be positive and at most 2^20 frames, got \(options.window) s")
        }
        guard options.holdOff.isFinite, options.holdOff >= 0, options.holdOff / seconds <= Double(1 << 30) else {
            throw .invalidArgument(
                "the hold-off must be at least 0 and at most 2^30 frames, got \(options.holdOff) s")
        }
        var isWord: [Bool]
        if let background = options.background {
            isWord = [Bool](repeating: true, count: classes)
            for k in background {
                guard k >= 0, k < classes else {
                    throw .invalidArgument("background class \(k) is not a class of this model (0..<\(classes))")
                }
                isWord[k] = false
            }
        } else {
            isWord =
                labels.isEmpty
                ? [Bool](repeating: true, count: classes) : labels.map { !DetectorOptions.isBackground(label: $0) }
        }
        guard isWord.contains(true) else {
            throw .invalidArgument("every class is a background class; a detector needs at least one word class")
        }
        self.options = options
        self.classes = classes
        words = labels.isEmpty ? (0..<classes).map { "class \($0)" } : labels
        self.isWord = isWord
        self.frameSeconds = seconds
        windowFrames = max(1, Int((options.window / seconds).rounded()))
        holdFrames = Int((options.holdOff / seconds).rounded())
        ring = [Float](repeating: 0, count: windowFrames * classes)
        sum = [Double](repeating: 0, count: classes)
        posterior = [Float](repeating: 0, count: classes)
        disarmed = [Bool](repeating: false, count: classes)
    }

    /// Frames pushed since the start or the last reset.
    public var frames: Int { framesSeen }

    /// Pushes rows of logits (`n × classes`, row-major); returns the words they complete.
    public mutating func push(_ logits: UnsafeBufferPointer<Float>) throws(SwiftletError) -> [Detection] {
        guard logits.count % classes == 0 else {
            throw .shape("pushed \(logits.count) scores, not a whole number of \(classes)-class rows")
        }
        for (i, v) in logits.enumerated() where !v.isFinite {
            throw .numeric("row \(i / classes) of the scores holds \(v) at class \(i % classes); scores must be finite")
        }
        var events: [Detection] = []
        for r in 0..<(logits.count / classes) {
            step(UnsafeBufferPointer(rebasing: logits[(r * classes)..<((r + 1) * classes)]), &events)
        }
        return events
    }

    public mutating func push(_ logits: [Float]) throws(SwiftletError) -> [Detection] {
        let result: Result<[Detection], SwiftletError> = logits.withUnsafeBufferPointer { buf in
            Result { () throws(SwiftletError) in try push(buf) }
        }
        return try result.get()
    }

    /// Ends the input: reports the candidate still open, if any.
    public mutating func flush() -> [Detection] {
        guard let c = candidate else { return [] }
        candidate = nil
        disarmed[c.cls] = true
        quietUntil = framesSeen + holdFrames
        return [event(c)]
    }

    /// Forgets every frame pushed.
    public mutating func reset() {
        for i in ring.indices { ring[i] = 0 }
        for i in sum.indices { sum[i] = 0 }
        for i in disarmed.indices { disarmed[i] = false }
        framesSeen = 0
        candidate = nil
        quietUntil = 0
    }

    private func event(_ c: (cls: Int, score: Float, frame: Int, centre: Double)) -> Detection {
        Detection(
            classIndex: c.cls, word: words[c.cls], frame: Int(c.centre.rounded(.down)),
            seconds: c.centre * frameSeconds, score: c.score)
    }

    private mutating func step(_ row: UnsafeBufferPointer<Float>, _ events: inout [Detection]) {
        let k = classes
        let t = framesSeen
        // Softmax, then the window's sum: the oldest row leaves, this one takes its place.
        var top = -Float.infinity
        for v in row { top = max(top, v) }
        var total: Float = 0
        for j in 0..<k {
            posterior[j] = expf(row[j] - top)
            total += posterior[j]
        }
        let slot = (t % windowFrames) * k
        for j in 0..<k {
            let p = posterior[j] / total
            sum[j] += Double(p) - Double(ring[slot + j])
            ring[slot + j] = p
        }
        framesSeen += 1
        let count = min(framesSeen, windowFrames)
        let threshold = Float(options.threshold)
        func smoothed(_ j: Int) -> Float { Float(max(sum[j], 0) / Double(count)) }
        let centre = Double(t) - Double(count - 1) / 2

        if var c = candidate {
            let v = smoothed(c.cls)
            if v > c.score {
                c.score = v
                c.frame = t
                c.centre = centre
            }
            if v < threshold || t - c.frame >= windowFrames {
                events.append(event(c))
                candidate = nil
                disarmed[c.cls] = true
                quietUntil = t + 1 + holdFrames
            } else {
                candidate = c
            }
        }
        // A reported class re-arms once it falls below the threshold; until then it holds others off.
        for j in 0..<k where disarmed[j] {
            if smoothed(j) < threshold {
                disarmed[j] = false
            } else {
                quietUntil = max(quietUntil, t + 1 + holdFrames)
            }
        }
        guard candidate == nil, t >= quietUntil else { return }
        var best = -1
        var score: Float = 0
        for j in 0..<k where isWord[j] && !disarmed[j] {
            let v = smoothed(j)
            if v >= threshold && v > score {
                best = j
                score = v
            }
        }
        if best >= 0 { candidate = (best, score, t, centre) }
    }
}
