import Glibc

/// Monotonic time in microseconds, for reports and latency models.
public func monotonicMicroseconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
}

/// Predicts wall-clock time from work, calibrated by the runs it observes on this machine.
/// Starts from a conservative guess and follows an exponential moving average of measured
/// microseconds per GFLOP, so a latency budget tightens to the machine after a run or two.
public struct LatencyModel: Sendable {
    public private(set) var microsecondsPerGFLOP: Double
    public private(set) var fixedMicroseconds: Double
    public private(set) var observations = 0

    /// `guess`: µs per GFLOP before any observation (20 GFLOP/s → 50_000).
    public init(microsecondsPerGFLOP guess: Double = 50_000, fixedMicroseconds: Double = 0) {
        self.microsecondsPerGFLOP = guess
        self.fixedMicroseconds = fixedMicroseconds
    }

    public func predictMicroseconds(gflops: Double) -> Double {
        fixedMicroseconds + gflops * microsecondsPerGFLOP
    }

    public mutating func observe(gflops: Double, microseconds: Double) {
        guard gflops > 0, microseconds > 0 else { return }
        let rate = max(0, microseconds - fixedMicroseconds) / gflops
        microsecondsPerGFLOP = observations == 0 ? rate : 0.7 * microsecondsPerGFLOP + 0.3 * rate
        observations += 1
    }
}
