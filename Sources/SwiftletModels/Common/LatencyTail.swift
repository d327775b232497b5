/// How a session's call times spread around what its cost model predicts: a window of the ratios
/// actual ÷ predicted of its recent calls, from which a latency budget reads a high percentile.
///
/// A budget plans for the tail, not the mean: a setting fits when `predicted × ratio(at: 0.95)` does.
/// The window is short, so drift (heat, another process on the machine) moves the choice within a few
/// dozen calls. Until `minimumObservations` calls were seen, the missing ones count as the prior ratio
/// (`priorRatio` unless the owner gives its own), a margin that the first calls of a fresh process
/// (cold caches, page faults) need.
public struct LatencyTail: Sendable, Equatable {
    /// Calls remembered.
    public static let window = 48
    /// Ratio assumed for calls not yet seen, by default.
    public static let priorRatio = 1.05
    public static let minimumObservations = 8
    /// The percentile budgets plan for.
    public static let plannedQuantile = 0.95

    private var ratios: [Double] = []
    private var next = 0
    /// `ratios` in order, kept so: budgets read a percentile for every candidate setting of a call.
    private var sorted: [Double] = []
    /// Ratio assumed for calls not yet seen.
    public let prior: Double

    public init(prior: Double = LatencyTail.priorRatio) { self.prior = prior }

    /// Calls observed so far, at most `window`.
    public var count: Int { ratios.count }

    public mutating func observe(predicted: Double, actual: Double) {
        guard predicted > 0, actual > 0, predicted.isFinite, actual.isFinite else { return }
        let ratio = actual / predicted
        if ratios.count < Self.window {
            ratios.append(ratio)
        } else {
            sorted.remove(at: sorted.firstIndex(of: ratios[next])!)
            ratios[next] = ratio
            next = (next + 1) % Self.window
        }
        var lo = 0
        var hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < ratio { lo = mid + 1 } else { hi = mid }
        }
        sorted.insert(ratio, at: lo)
    }

    /// The `q` quantile of actual ÷ predicted (nearest rank), the prior filling missing observations.
    public func ratio(at q: Double) -> Double {
        var all = sorted
        if all.count < Self.minimumObservations {
            all += [Double](repeating: prior, count: Self.minimumObservations - all.count)
            all.sort()
        }
        let rank = Int((q * Double(all.count)).rounded(.up)) - 1
        return all[min(max(rank, 0), all.count - 1)]
    }

    /// `predicted` scaled to the planned percentile.
    public func tail(_ predicted: Double) -> Double { predicted * ratio(at: Self.plannedQuantile) }
}
