import Foundation

/// Fixtures converted once per test run: conversion is the slow part of many tests, and the same
/// checkpoint with the same options always gives the same bytes (a tested property of the converter).
enum FixtureCache {
    // An NSLock (a pthread mutex) rather than a Synchronization.Mutex global: ThreadSanitizer reported
    // the Mutex global's accesses from two test threads as a Swift access race, and CI runs TSan.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var converted: [String: [UInt8]] = [:]

    /// The bytes stored under `key`, made by `make` the first time.
    static func bytes(_ key: String, _ make: () throws -> [UInt8]) rethrows -> [UInt8] {
        if let hit = lock.withLock({ converted[key] }) { return hit }
        let made = try make()
        lock.withLock { converted[key] = made }
        return made
    }
}
