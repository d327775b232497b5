/// Per-call plumbing a family needs: the abort poll and the report being filled.
public final class RunControl {
    let shouldAbort: (() -> Bool)?
    public var report = RunReport()

    public init(shouldAbort: (() -> Bool)?) {
        self.shouldAbort = shouldAbort
    }

    /// Clears the report for the next call, so a stream can reuse one control per push without
    /// allocating.
    public func reset() {
        report = RunReport()
    }

    /// Called between layers, loop steps and frames: throws `.aborted` when the caller asked to stop.
    public func checkAbort(_ whereabouts: @autoclosure () -> String) throws(ModelError) {
        if let shouldAbort, shouldAbort() {
            report.completed = false
            throw ModelError(.aborted, "aborted by the abort callback \(whereabouts())")
        }
    }
}
