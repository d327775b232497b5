import Swiftlet

let path = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "model.swl"
do {
    let model = try Model(path: path)
    let session = try model.makeSession(options: SessionOptions(threads: 1))
    let x = Tensor(shape: [1, 4], values: [0.5, -0.25, 1.0, 0.0])
    let (outputs, report) = try session.run([x], budget: Budget(loops: 2))
    print(model.family, outputs[0].values, report.choice, report.microseconds)

    // Streams: push frames as they arrive; rows come back as soon as the look-ahead allows.
    let stream = try model.makeStream()
    let rows = try stream.push([Float](repeating: 0.1, count: 4 * 10)) + stream.flush()
    print(rows.count, "rows")

    // Language models: prefill, then decode through the KV cache.
    let (tokens, _) = try session.generate(
        prompt: [1, 2, 3], maxTokens: 5,
        sampler: Sampler(temperature: 0.8, topK: 3), seed: 7)
    print(tokens)

    _ = try session.run([Tensor(shape: [1, 5], values: [1, 2, 3, 4, 5])])
} catch { // every call throws SwiftletError, which carries the library's message
    print("error:", error.message) // e.g. "input 'x' dimension 1 must be 4 (shape [batch, 4]), got [1, 5]"
}
