import Swiftlet
import SwiftletModels
import Testing

/// Finite inputs that overflow float32 inside a model: the call fails with `.numeric` instead of
/// returning NaN or infinite outputs with success.
@Suite struct HostileInputTests {
    static func isNumeric(_ e: any Error) -> Bool {
        if case .numeric? = e as? SwiftletError { return true }
        return false
    }

    /// Issue 11: a ViT image of 3e38 (finite, so it passed the input check) gave NaN logits and OK.
    @Test func vitImageThatOverflowsIsANumericError() throws {
        let model = try Model(bytes: try ViTFixture.convert("checkpoint.safetensors"))
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let good = try ViTFixture.input()
        let huge = Tensor(shape: good.shape, values: [Float](repeating: 3e38, count: good.values.count))
        #expect { try session.run([huge]) } throws: { e in
            Self.isNumeric(e) && (e as? SwiftletError)?.message.contains("output 'logits'") == true
        }
        // The session is unharmed: a normal image still runs.
        let (outputs, _) = try session.run([good])
        #expect(outputs[0].values.allSatisfy { $0.isFinite })
    }

    @Test func testModelRunAndStreamThatOverflowAreNumericErrors() throws {
        let model = try Model(bytes: try TestModel.fileBytes())
        let session = try model.makeSession(options: SessionOptions(threads: 1))
        let huge = [Float](repeating: 3e38, count: 8)
        #expect { try session.run([Tensor(shape: [2, 4], values: huge)]) } throws: { Self.isNumeric($0) }
        let stream = try model.makeStream()
        #expect { _ = try stream.push(huge) } throws: { Self.isNumeric($0) }
        try stream.reset()
        #expect(try stream.push([Float](repeating: 0.5, count: 8)).count == 1)
    }

    @Test func lmuformerStreamThatOverflowsIsANumericError() throws {
        let fx = try LMUFixture.load("lmu-test")
        let model = try Model(bytes: fx.bytes)
        let x = [Float](repeating: 3e38, count: 12 * fx.features)
        #expect { try model.makeSession().run([Tensor(shape: [1, 12, fx.features], values: x)]) } throws: {
            Self.isNumeric($0)
        }
        let stream = try model.makeStream()
        #expect { _ = try stream.push(x) + stream.flush() } throws: { Self.isNumeric($0) }
    }
}
