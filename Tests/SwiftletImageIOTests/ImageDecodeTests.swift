import CSwiftletImageIO
import Foundation
import Testing

/// The tool's PNG/JPEG decoder against what Pillow (`Image.open(f).convert("RGB")`, timm's loader)
/// decodes from the same files (`Tests/Fixtures/image-preprocess/decode`, made by make.py), and on
/// damaged files (`.../damaged`).
enum DecodeFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/image-preprocess").standardized.path

    static func bytes(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DecodeError("cannot read \(path)") }
        return [UInt8](data)
    }

    /// A uint8 .npy array (version 1 header): its shape and bytes.
    static func npy(_ path: String) throws -> (shape: [Int], values: [UInt8]) {
        let b = try bytes(path)
        let headerLength = Int(b[8]) | Int(b[9]) << 8
        let header = String(decoding: b[10..<(10 + headerLength)], as: UTF8.self)
        guard header.contains("'|u1'") else { throw DecodeError("\(path) is not uint8: \(header)") }
        let shapeText = header.components(separatedBy: "'shape': (")[1].components(separatedBy: ")")[0]
        let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (shape, Array(b[(10 + headerLength)...]))
    }

    /// swi_decode: the pixels, or the message.
    static func decode(_ data: [UInt8]) -> Result<(width: Int, height: Int, rgb: [UInt8]), DecodeError> {
        var image = swi_image()
        var message = [CChar](repeating: 0, count: 512)
        let status = data.withUnsafeBufferPointer { swi_decode($0.baseAddress, $0.count, &image, &message, 512) }
        defer { swi_image_free(&image) }
        guard status == 0, let rgb = image.rgb else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(DecodeError(image.rgb == nil ? text : "status \(status) but pixels were returned"))
        }
        let count = Int(image.width) * Int(image.height) * 3
        return .success((Int(image.width), Int(image.height), Array(UnsafeBufferPointer(start: rgb, count: count))))
    }

    static func files(_ folder: String, _ ext: String...) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + folder)) ?? []
        return names.filter { n in ext.contains { n.hasSuffix($0) } }.sorted()
    }
}

struct DecodeError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

@Suite struct ImageDecodeTests {
    static let decodable = DecodeFixture.files("decode", ".png", ".jpg").filter {
        FileManager.default.fileExists(atPath: "\(DecodeFixture.directory)/decode/\($0).npy")
    }
    static let damaged = DecodeFixture.files("damaged", ".png", ".jpg", ".gif")

    @Test func fixtureCoversEveryKind() {
        // 8-bit RGB, RGBA, grey, grey+alpha, palette, 1/2/4-bit grey, 16-bit, interlaced; JPEG 4:2:0,
        // 4:4:4, 4:2:2 with restarts, progressive, grey, EXIF-rotated.
        #expect(Self.decodable.count == 19, "\(Self.decodable)")
        #expect(Self.damaged.count == 19, "\(Self.damaged)")
    }

    /// The same pixels as Pillow: PNG exactly; JPEG within one 8-bit level (both use libjpeg-turbo's
    /// accurate integer IDCT and smooth upsampling, so exactly too).
    @Test(arguments: decodable) func matchesPillow(_ name: String) throws {
        let expected = try DecodeFixture.npy("\(DecodeFixture.directory)/decode/\(name).npy")
        let got = try DecodeFixture.decode(try DecodeFixture.bytes("\(DecodeFixture.directory)/decode/\(name)")).get()
        #expect([got.height, got.width, 3] == expected.shape)
        try #require(got.rgb.count == expected.values.count)
        let diffs = zip(got.rgb, expected.values).map { abs(Int($0) - Int($1)) }
        #expect((diffs.max() ?? 0) <= 1, "\(name): max difference \(diffs.max() ?? 0) levels")
        #expect(diffs.allSatisfy { $0 == 0 }, "\(name): \(diffs.filter { $0 != 0 }.count) values differ")
    }

    /// What Pillow would turn into something timm does not see (16-bit grey clipped to white) and CMYK:
    /// refused with a reason.
    @Test(arguments: [("grey16.png", "16-bit greyscale"), ("cmyk.jpg", "CMYK")])
    func unsupportedKindsAreRefused(_ c: (String, String)) throws {
        let result = DecodeFixture.decode(try DecodeFixture.bytes("\(DecodeFixture.directory)/decode/\(c.0)"))
        guard case .failure(let e) = result else {
            Issue.record("\(c.0) decoded")
            return
        }
        #expect(e.description.contains(c.1), "\(c.0): \(e.description)")
    }

    /// Every damaged file is refused with a reason (Pillow loads two of them: a PNG without IEND and a
    /// JPEG with an EOI marker inside its scan, which it pads with grey; damaged/pillow.json).
    @Test(arguments: damaged) func damagedFilesAreRefused(_ name: String) throws {
        let data = try DecodeFixture.bytes("\(DecodeFixture.directory)/damaged/\(name)")
        guard case .failure(let e) = DecodeFixture.decode(data) else {
            Issue.record("\(name) decoded")
            return
        }
        let expected: [String: String] = [
            "truncated.png": "truncated", "no_iend.png": "truncated", "signature_only.png": "truncated",
            "header_crc.png": "CRC", "data_crc.png": "damaged PNG", "bad_deflate.png": "damaged PNG",
            "zero_width.png": "IHDR", "huge_side.png": "at most", "bomb.png": "at most",
            "truncated.jpg": "Premature end", "no_eoi.jpg": "Premature end", "headers_only.jpg": "Premature end",
            "eoi_in_scan.jpg": "premature end of data segment", "bogus_huffman.jpg": "Huffman",
            "zero_height.jpg": "damaged JPEG", "huge.jpg": "at most", "empty.png": "empty",
            "random.jpg": "not a PNG or JPEG", "animation.gif": "GIF",
        ]
        #expect(expected[name] != nil, "no expectation for \(name)")
        #expect(e.description.contains(expected[name] ?? "?"), "\(name): \(e.description)")
    }

    /// Every prefix of a good file is refused (the end of a PNG and a JPEG is marked, IEND and EOI);
    /// every single-byte change is either refused or decodes to a whole image (a PNG's CRCs catch
    /// every change; a JPEG has no checksum, and a changed size or coefficient may decode). Nothing
    /// crashes, hangs or prints.
    @Test(arguments: ["rgb8.png", "interlaced.png", "palette4.png", "baseline420.jpg", "progressive.jpg"])
    func truncationsAndBitFlips(_ name: String) throws {
        let good = try DecodeFixture.bytes("\(DecodeFixture.directory)/decode/\(name)")
        var accepted: [Int] = []
        for n in 0..<good.count {
            if case .success = DecodeFixture.decode(Array(good[0..<n])) { accepted.append(n) }
        }
        #expect(accepted.isEmpty, "\(name): prefixes of \(accepted.prefix(5)) bytes decoded")
        for i in stride(from: 0, to: good.count, by: 3) {
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var bad = good
                bad[i] ^= flip
                if case .success(let image) = DecodeFixture.decode(bad) {
                    #expect(!name.hasSuffix(".png"), "\(name): byte \(i) ^ \(flip) decoded")
                    #expect(image.width > 0 && image.height > 0 && image.rgb.count == image.width * image.height * 3)
                }
            }
        }
    }
}
