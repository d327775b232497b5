import Foundation
import SwiftletConvert
import SwiftletFormat
import Testing

@testable import SwiftletText

/// What the tokenizer refuses: tokenizer.json files it does not compute exactly, damaged metadata, bad
/// ids and text; and hostile text that must not take quadratic time.
@Suite struct TokenizerInputTests {
    typealias K = TokenizerSchema.Key

    static func gpt2JSON() throws -> [String: Any] {
        let url = TokenizerGoldenTests.folder.appendingPathComponent("gpt2-style.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// The converter's message for a tokenizer.json edited by `edit`.
    static func refusal(_ edit: (inout [String: Any]) -> Void) throws -> String? {
        var json = try gpt2JSON()
        edit(&json)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID()).json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try TokenizerJSON.metadata(path: path)
            return nil
        } catch let e as ConvertError {
            return e.message
        }
    }

    static func editModel(_ json: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var model = json["model"] as! [String: Any]
        edit(&model)
        json["model"] = model
    }

    @Test func tokenizersItDoesNotComputeAreRefusedByName() throws {
        #expect(try Self.refusal { Self.editModel(&$0) { $0["type"] = "WordPiece" } }?.contains("model.type") == true)
        #expect(try Self.refusal { Self.editModel(&$0) { $0["dropout"] = 0.1 } }?.contains("model.dropout") == true)
        #expect(try Self.refusal { $0["pre_tokenizer"] = ["type": "Metaspace"] }?.contains("pre_tokenizer") == true)
        #expect(try Self.refusal { $0["normalizer"] = ["type": "NFKC"] }?.contains("NFKC") == true)
        #expect(try Self.refusal { $0["decoder"] = ["type": "WordPiece"] }?.contains("decoder") == true)
        #expect(
            try Self.refusal {
                var added = $0["added_tokens"] as! [[String: Any]]
                added[0]["lstrip"] = true
                $0["added_tokens"] = added
            }?.contains("lstrip") == true)
        // A gap in the ids.
        #expect(
            try Self.refusal {
                Self.editModel(&$0) { m in
                    var vocab = m["vocab"] as! [String: Int]
                    vocab.removeValue(forKey: vocab.first { $0.value == 300 }!.key)
                    m["vocab"] = vocab
                }
            }?.contains("no token has id 300") == true)
        #expect(try Self.refusal { _ in } == nil, "the unedited file converts")
    }

    @Test func mergesAsStringsOrPairsGiveTheSameTokenizer() throws {
        let pairs = try TokenizerJSON.metadata(
            path: TokenizerGoldenTests.folder.appendingPathComponent("gpt2-style.json").path
        ).values
        var json = try Self.gpt2JSON()
        Self.editModel(&json) { m in
            m["merges"] = (m["merges"] as! [[String]]).map { $0.joined(separator: " ") }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tok-\(UUID()).json").path
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try TokenizerJSON.metadata(path: path).values == pairs)
    }

    /// Metadata as a converter writes it, edited.
    static func loaded(_ edit: (inout [String: MetadataValue]) -> Void) throws -> TokenizerError? {
        var values = try TokenizerJSON.metadata(
            path: TokenizerGoldenTests.folder.appendingPathComponent("neox-style.json").path
        ).values
        edit(&values)
        do {
            _ = try Tokenizer(metadata: values)
            return nil
        } catch {
            return error
        }
    }

    @Test func damagedMetadataIsRefusedAtLoad() throws {
        #expect(try Self.loaded { _ in } == nil)
        #expect(try Self.loaded { $0[K.model] = .string("sentencepiece") }?.kind == .format)
        #expect(try Self.loaded { $0[K.tokens] = .strings([]) }?.kind == .format)
        #expect(try Self.loaded { $0[K.tokens] = .int(3) }?.kind == .format)
        #expect(try Self.loaded { $0[K.merges] = .strings(["Ġ"]) }?.kind == .format)
        #expect(try Self.loaded { $0[K.merges] = .strings(["zz qq"]) }?.kind == .format)
        #expect(try Self.loaded { $0[K.addedIDs] = .ints([0, 99999]) }?.kind == .format)
        #expect(try Self.loaded { $0[K.addedIDs] = .ints([0]) }?.kind == .format) // flags count differs
        #expect(try Self.loaded { $0[K.addedFlags] = .ints([1, 64, 2, 2, 2, 2, 2]) }?.kind == .format)
        #expect(try Self.loaded { $0[K.normalizer] = .string("nfkd") }?.kind == .format)
        #expect(try Self.loaded { $0.removeValue(forKey: K.model) }?.message.contains(K.model) == true)
        #expect(try Tokenizer(metadata: [:]) == nil, "no tokenizer keys: no tokenizer")
    }

    @Test func badIdsAndTextAreRefused() throws {
        let t = try TokenizerGoldenTests.tokenizer("gpt2-style")
        #expect(throws: TokenizerError.self) { try t.decode([Int32(t.count)]) }
        #expect(throws: TokenizerError.self) { try t.decode([-1]) }
        let invalid: [UInt8] = [0x61, 0xC3, 0x28]
        #expect(throws: TokenizerError.self) { try invalid.withUnsafeBufferPointer { try t.encode(utf8: $0) } }
        let valid = Array("héllo".utf8)
        #expect(try valid.withUnsafeBufferPointer { try t.encode(utf8: $0) } == t.encode("héllo"))
    }

    @Test func oneHugeWordTakesLinearishTime() throws {
        // 200,000 letters with no space are one word: the merges must not go quadratic.
        let t = try TokenizerGoldenTests.tokenizer("gpt2-style")
        let text = String(repeating: "abcdefghij", count: 20_000)
        let clock = ContinuousClock()
        var ids: [Int32] = []
        let elapsed = clock.measure { ids = t.encode(text) }
        #expect(try t.decode(ids) == text)
        #expect(elapsed < .seconds(10), "took \(elapsed)")
    }

    @Test func unfinishedTailHoldsBackOnlyACharacterThatCanStillBeCompleted() {
        #expect(TextDecoder.unfinishedTail(Array("a".utf8)) == 0)
        #expect(TextDecoder.unfinishedTail([0x61, 0xC3]) == 1) // é's first byte
        #expect(TextDecoder.unfinishedTail([0xE2, 0x82]) == 2) // € less its last byte
        #expect(TextDecoder.unfinishedTail([0xF0, 0x9F, 0x99]) == 3) // 🙂 less its last byte
        #expect(TextDecoder.unfinishedTail([0xF0, 0x9F, 0x99, 0x82]) == 0) // whole
        #expect(TextDecoder.unfinishedTail([0xE0, 0x80]) == 0) // overlong: never valid, not held
        #expect(TextDecoder.unfinishedTail([0xED, 0xA0]) == 0) // a surrogate: never valid
        #expect(TextDecoder.unfinishedTail([0xC0]) == 0) // never a lead byte
        #expect(TextDecoder.unfinishedTail([0x80, 0x80]) == 0)
    }
}
