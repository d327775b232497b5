import Foundation
import SwiftletKernels
import Testing

/// The `image-preprocess` fixture: timm's evaluation transform (Pillow's resize, centre crop, mean/std)
/// on synthetic images, made by `Tests/Fixtures/image-preprocess/make.py`.
enum ImageFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/image-preprocess").standardized.path

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let source: (width: Int, height: Int, seed: Int)
        let height, width: Int
        let cropFraction: Double
        let interpolation: String
        let cropMode: String
        let mean, std: [Float]
        let hasTensor: Bool
        var testDescription: String { name }
    }

    static func cases() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/cases.json"))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (root["cases"] as! [[String: Any]]).map { c in
            let src = c["source"] as! [Int]
            let size = c["input_size"] as! [Int]
            return Case(
                name: c["name"] as! String, source: (src[0], src[1], src[2]), height: size[1], width: size[2],
                cropFraction: c["crop_pct"] as! Double, interpolation: c["interpolation"] as! String,
                cropMode: c["crop_mode"] as! String, mean: (c["mean"] as! [Double]).map(Float.init),
                std: (c["std"] as! [Double]).map(Float.init), hasTensor: c["tensor"] as! Bool)
        }
    }

    /// make.py's `hash32`: the same integers, wrapping at 32 bits.
    static func hash32(_ x: Int, _ y: Int, _ c: Int, _ seed: Int) -> UInt32 {
        var v =
            UInt32(truncatingIfNeeded: x) &* 374_761_393 &+ UInt32(truncatingIfNeeded: y) &* 668_265_263
            &+ UInt32(truncatingIfNeeded: c) &* 2_246_822_519 &+ UInt32(truncatingIfNeeded: seed) &* 3_266_489_917
        v = (v ^ (v >> 15)) &* 2_246_822_519
        return v ^ (v >> 13)
    }

    /// make.py's `source`: gradients, a saturated disc, inverted stripes and noise, RGB8 rows.
    static func source(width: Int, height: Int, seed: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let (cx, cy, r) = (width * 2 / 5, height / 2, max(min(width, height) / 4, 1))
        for y in 0..<height {
            for x in 0..<width {
                let gx = x * 255 / max(width - 1, 1)
                let gy = y * 255 / max(height - 1, 1)
                let disc = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r
                let stripe = (x / max(width / 8, 1)) % 4 == 3
                for c in 0..<3 {
                    var v = [gx, gy, (gx + gy) / 2][c]
                    if disc { v = [255, 0, 255][c] }
                    if stripe { v = 255 - v }
                    v += Int(hash32(x, y, c, seed) & 31) - 16
                    out[(y * width + x) * 3 + c] = UInt8(min(max(v, 0), 255))
                }
            }
        }
        return out
    }

    /// A little-endian .npy array of uint8 or float32 values, as bytes, with its shape.
    static func npy(_ path: String) throws -> (shape: [Int], descr: String, body: [UInt8]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageFixtureError("cannot read \(path)")
        }
        let b = [UInt8](data)
        let headerLength = Int(b[8]) | Int(b[9]) << 8
        let header = String(decoding: b[10..<(10 + headerLength)], as: UTF8.self)
        let descr = header.components(separatedBy: "'descr': '")[1].components(separatedBy: "'")[0]
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (shape, descr, Array(b[(10 + headerLength)...]))
    }

    static func bytes(_ path: String) throws -> (shape: [Int], values: [UInt8]) {
        let a = try npy(path)
        guard a.descr == "|u1" else { throw ImageFixtureError("\(path) is \(a.descr), not uint8") }
        return (a.shape, a.body)
    }

    static func floats(_ path: String) throws -> (shape: [Int], values: [Float]) {
        let a = try npy(path)
        guard a.descr == "<f4" else { throw ImageFixtureError("\(path) is \(a.descr), not float32") }
        let values = stride(from: 0, to: a.body.count, by: 4).map { o in
            Float(
                bitPattern: UInt32(a.body[o]) | UInt32(a.body[o + 1]) << 8 | UInt32(a.body[o + 2]) << 16
                    | UInt32(a.body[o + 3]) << 24)
        }
        return (a.shape, values)
    }
}

struct ImageFixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite struct ImageTransformTests {
    static let cases = (try? ImageFixture.cases()) ?? []

    static func transform(_ c: ImageFixture.Case) -> ImageTransform {
        ImageTransform(
            height: c.height, width: c.width, cropFraction: c.cropFraction,
            cropMode: ImageTransform.CropMode(rawValue: c.cropMode)!,
            filter: ResampleFilter(rawValue: c.interpolation)!, mean: c.mean, std: c.std)
    }

    @Test func fixtureHasEveryCase() {
        // Up- and down-scaling, both pass orders, non-square sizes, every filter and crop mode.
        #expect(Self.cases.count == 15)
        #expect(Set(Self.cases.map(\.interpolation)) == Set(ResampleFilter.allCases.map(\.rawValue)))
        #expect(Set(Self.cases.map(\.cropMode)) == Set(ImageTransform.CropMode.allCases.map(\.rawValue)))
    }

    /// The pixels after resize and centre crop: the brief allows one 8-bit level per pixel against
    /// timm/Pillow; the resize reproduces Pillow's integer arithmetic, so the fixture is met exactly.
    @Test(arguments: cases) func cropMatchesTimm(_ c: ImageFixture.Case) throws {
        let expected = try ImageFixture.bytes("\(ImageFixture.directory)/crop_\(c.name).npy")
        #expect(expected.shape == [c.height, c.width, 3])
        let src = ImageFixture.source(width: c.source.width, height: c.source.height, seed: c.source.seed)
        let got = src.withUnsafeBufferPointer { p in
            Self.transform(c).crop(
                RGB8Pixels(
                    base: p.baseAddress!, width: c.source.width, height: c.source.height,
                    rowStride: c.source.width * 3))
        }
        try #require(got.count == expected.values.count)
        let diffs = zip(got, expected.values).map { abs(Int($0) - Int($1)) }
        let worst = diffs.max() ?? 0
        #expect(worst <= 1, "\(c.name): max difference \(worst) levels")
        #expect(diffs.filter { $0 != 0 }.count == 0, "\(c.name): \(diffs.filter { $0 != 0 }.count) pixels differ")
    }

    /// The whole transform against timm's float32 tensor: the same bits when the pixels are the same.
    @Test(arguments: cases.filter(\.hasTensor)) func tensorMatchesTimm(_ c: ImageFixture.Case) throws {
        let expected = try ImageFixture.floats("\(ImageFixture.directory)/tensor_\(c.name).npy")
        #expect(expected.shape == [3, c.height, c.width])
        let t = Self.transform(c)
        let src = ImageFixture.source(width: c.source.width, height: c.source.height, seed: c.source.seed)
        var got = [Float](repeating: .nan, count: t.outputCount)
        src.withUnsafeBufferPointer { p in
            got.withUnsafeMutableBufferPointer { o in
                t.apply(
                    RGB8Pixels(
                        base: p.baseAddress!, width: c.source.width, height: c.source.height,
                        rowStride: c.source.width * 3), into: o.baseAddress!)
            }
        }
        let worst = zip(got, expected.values).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst == 0, "\(c.name): max difference \(worst)")
    }

    /// A row stride wider than the pixels (a view into a larger image) reads only the pixels.
    @Test func rowStrideSkipsPadding() {
        let (w, h) = (45, 37)
        let tight = ImageFixture.source(width: w, height: h, seed: 14)
        var padded = [UInt8](repeating: 0xAB, count: (w * 3 + 7) * h)
        for y in 0..<h { for i in 0..<(w * 3) { padded[y * (w * 3 + 7) + i] = tight[y * w * 3 + i] } }
        let t = ImageTransform(
            height: 32, width: 32, cropFraction: 0.9, cropMode: .center, filter: .bicubic, mean: [0, 0, 0],
            std: [1, 1, 1])
        let a = tight.withUnsafeBufferPointer {
            t.crop(RGB8Pixels(base: $0.baseAddress!, width: w, height: h, rowStride: w * 3))
        }
        let b = padded.withUnsafeBufferPointer {
            t.crop(RGB8Pixels(base: $0.baseAddress!, width: w, height: h, rowStride: w * 3 + 7))
        }
        #expect(a == b)
    }

    /// A window of a resize is exactly that part of the whole resize, whichever pass runs first.
    @Test(arguments: [(60, 300, 36, 180), (300, 40, 270, 36), (20, 200, 54, 54), (31, 17, 64, 50)])
    func windowIsPartOfWholeResize(_ size: (Int, Int, Int, Int)) {
        let (w, h, ow, oh) = size
        let src = ImageFixture.source(width: w, height: h, seed: 3)
        src.withUnsafeBufferPointer { p in
            let image = RGB8Pixels(base: p.baseAddress!, width: w, height: h, rowStride: w * 3)
            let whole = ImageResample.resize(
                image, width: ow, height: oh, filter: .bicubic, window: PixelWindow(x: 0, y: 0, width: ow, height: oh))
            let win = PixelWindow(x: ow / 5, y: oh / 3, width: ow / 2, height: oh / 2)
            let part = ImageResample.resize(image, width: ow, height: oh, filter: .bicubic, window: win)
            var expected: [UInt8] = []
            for y in win.y..<(win.y + win.height) {
                expected += whole[((y * ow + win.x) * 3)..<((y * ow + win.x + win.width) * 3)]
            }
            #expect(part == expected)
        }
    }

    /// Geometry against torchvision/timm's rules, on sizes where they disagree with naive rounding.
    @Test func resizedSizesFollowTorchvision() {
        let t = ImageTransform(
            height: 224, width: 224, cropFraction: 0.875, cropMode: .center, filter: .bicubic,
            mean: [0, 0, 0], std: [1, 1, 1])
        // Shorter side to 256, the other truncated: 256 · 500 / 333 = 384.38…
        #expect(t.resizedSize(width: 500, height: 333) == (384, 256))
        #expect(t.resizedSize(width: 333, height: 500) == (256, 384))
        // Ties keep the width as the "short" side.
        #expect(t.resizedSize(width: 300, height: 300) == (256, 256))
        // Offsets round half to even: (35 − 32) / 2 = 1.5 → 2, (33 − 32) / 2 = 0.5 → 0.
        let small = ImageTransform(
            height: 32, width: 32, cropFraction: 1, cropMode: .center, filter: .bicubic, mean: [0, 0, 0],
            std: [1, 1, 1])
        #expect(small.cropWindow(resized: (35, 33)) == PixelWindow(x: 2, y: 0, width: 32, height: 32))
    }
}
