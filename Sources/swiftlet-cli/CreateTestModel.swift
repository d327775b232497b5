import ArgumentParser
import Foundation
import SwiftletFormat
import SwiftletModels

struct CreateTestModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-test-model",
        abstract: "Write Swiftlet's tiny built-in test model, for checking an integration without a real checkpoint.",
        discussion: """
            The test model (family "test") is a 4-block residual MLP on 4-float rows with 3 outputs \
            (named "low", "middle" and "high" in general.labels), a stream with one frame of \
            look-ahead, and a 6-token toy language model with a 16-token context. It exercises every \
            function of the C API; bindings use it in their tests.

            Example:
              swiftlet create-test-model model.swl
            """)

    @Argument(help: "Where to write the .swl file.")
    var output: String

    func run() throws {
        checkOutputPath(output, flag: nil)
        do {
            var bytes = try TestModel.fileBytes(labels: ["low", "middle", "high"])
            try writeFileAtomically(&bytes, output)
        } catch {
            failAndExit("\(error)")
        }
    }
}

func writeFileAtomically(_ bytes: inout [UInt8], _ path: String) throws {
    let url = URL(fileURLWithPath: path)
    try Data(bytes).write(to: url, options: .atomic)
}
