import Foundation
import Swiftlet
import SwiftletConvert
import SwiftletFormat
import Testing

/// Text through the Swift API: a LoopFormer converted with a tokenizer tokenizes, generates text that
/// streams piece by piece, and a tokenizer that does not fit the model is refused at load.
@Suite struct TextAPITests {
    static let tokenizers = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer")

    static func converted(_ tokenizer: String) throws -> [UInt8] {
        let (values, _) = try TokenizerJSON.metadata(path: tokenizers.appendingPathComponent(tokenizer).path)
        return try LoopFormerFixture.convert(
            try CheckpointReader.read(path: LoopFormerFixture.path("checkpoint.safetensors")),
            options: ConvertOptions(tokenizer: values))
    }

    @Test func textInTextOut() throws {
        let model = try Model(bytes: try Self.converted("tiny.json"))
        #expect(model.hasTokenizer)
        let prompt = "def f(x):"
        let ids = try model.tokenize(prompt)
        #expect(try model.detokenize(ids) == prompt)
        #expect(model.isSpecialToken(0) && !model.isSpecialToken(ids[0]))

        // generate's onToken sees every token as it is sampled; the text streamed joins to the text of
        // the tokens, and returning false stops after that token.
        let session = try model.makeSession()
        var detokenizer = try model.detokenizer()
        var streamed = ""
        var seen: [Int32] = []
        let result = try session.generate(prompt: ids, maxTokens: 6) { (token) throws(SwiftletError) -> Bool in
            seen.append(token)
            streamed += try detokenizer.append(token)
            return seen.count < 4
        }
        streamed += detokenizer.finish()
        #expect(seen == result.tokens && seen.count == 4)
        #expect(streamed == (try model.detokenize(result.tokens)))
    }

    @Test func aTokenizerThatDoesNotFitIsRefused() throws {
        // 1,024 tokens for a 101-token model: ids the embedding does not have.
        #expect(errorKind { _ = try Model(bytes: try Self.converted("gpt2-style.json")) } == "format")
        // No tokenizer: text calls say what to do.
        let plain = try LoopFormerFixture.model()
        #expect(!plain.hasTokenizer)
        #expect(errorKind { _ = try plain.tokenize("x") } == "unsupported")
    }
}
