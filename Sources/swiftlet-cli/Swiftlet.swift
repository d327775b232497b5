import ArgumentParser
import Foundation
import Swiftlet

@main
struct SwiftletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Convert, inspect, run and benchmark efficient transformers under a compute budget.",
        discussion: """
            Swiftlet runs four families of efficient transformers on the CPU from compressed .swl files:
            token-merging ViTs (vit), LMUFormer (lmuformer), LoopFormer (loopformer) and MemoryFormer
            (memoryformer). A typical session:

              swiftlet convert --family vit --config kwargs.json --checkpoint deit.pth --output deit.swl
              swiftlet inspect deit.swl --verify
              swiftlet run deit.swl --input images.npy --output logits.npy --merge-r 8
              swiftlet bench deit.swl --budget r=0 --budget r=8 --budget ms=20
              swiftlet convert --family loopformer --checkpoint ckpt.pt --tokenizer tokenizer.json --output lm.swl
              swiftlet generate lm.swl --prompt "def fibonacci(n):" --max-tokens 60

            Run `swiftlet help <command>` for the options of each command.
            """,
        version: swiftletVersion,
        subcommands: [
            Convert.self, Inspect.self, Run.self, Generate.self, Tokenize.self, StreamCommand.self, Bench.self,
            Profile.self,
            Compare.self, Features.self,
            CreateTestModel.self,
        ]
    )
}

/// Prints a one-line error and exits non-zero: the CLI never shows a stack trace for bad input.
func failAndExit(_ message: String) -> Never {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(1)
}

func note(_ message: String) {
    fflush(nil) // keep stdout rows and stderr notes in order when both go to one terminal or file
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}
