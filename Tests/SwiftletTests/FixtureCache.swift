import Synchronization

/// Fixtures converted once per test run: conversion is the slow part of many tests, and the same
/// checkpoint with the same options always gives the same bytes (a tested property of the converter).
enum FixtureCache {
    private static let converted = Mutex<[String: [UInt8]]>([:])

    /// The bytes stored under `key`, made by `make` the first time.
    static func bytes(_ key: String, _ make: () throws -> [UInt8]) rethrows -> [UInt8] {
        if let hit = converted.withLock({ $0[key] }) { return hit }
        let made = try make()
        converted.withLock { $0[key] = made }
        return made
    }
}
