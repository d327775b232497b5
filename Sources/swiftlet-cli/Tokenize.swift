import ArgumentParser
import Foundation
import Swiftlet

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn text into token ids, or ids into text, with the tokenizer a language model carries.",
        usage: "swiftlet tokenize <model> (--text <text> | --ids <ids>) [<options>]",
        discussion: """
            The model must have been converted with --tokenizer tokenizer.json. --text prints the \
            ids, comma-separated, as Hugging Face tokenizers' encode(text, add_special_tokens=False) \
            gives them; --ids prints their text exactly, with no newline added, so a round trip \
            gives the input back. --text - and --ids - read standard input (all of it: trailing \
            newlines are text too).

            Examples:
              swiftlet tokenize lm.swl --text "Hello world"
              swiftlet tokenize lm.swl --ids 15496,995
              swiftlet tokenize lm.swl --ids "$(swiftlet tokenize lm.swl --text "déjà vu")"
              swiftlet tokenize lm.swl --text "Hello world" --pieces
            """)

    @Argument(help: "The .swl language model (converted with --tokenizer).")
    var model: String

    @Option(help: "Text to turn into ids ('-' reads standard input).")
    var text: String?

    @Option(help: "Comma-separated token ids to turn into text ('-' reads standard input).")
    var ids: String?

    @Flag(help: "With --text: print each id with the text of its token, one per line.")
    var pieces = false

    @Flag(name: .customLong("skip-special"), help: "With --ids: leave out special tokens (end of text, padding).")
    var skipSpecial = false

    func validate() throws {
        guard (text == nil) != (ids == nil) else { throw ValidationError("give exactly one of --text or --ids") }
    }

    func run() throws {
        let m = try openModel(model)
        guard m.hasTokenizer else {
            failAndExit("\(model) carries no tokenizer; convert it again with --tokenizer tokenizer.json")
        }
        if let text {
            let input = text == "-" ? readStandardInput() : text
            let tokens = try orFail { () throws(SwiftletError) in try m.tokenize(input) }
            if pieces {
                for id in tokens {
                    let piece = try orFail { () throws(SwiftletError) in try m.detokenize([id]) }
                    print("\(id)\t\(piece.debugDescription)")
                }
            } else {
                print(tokens.map(String.init).joined(separator: ","))
            }
        } else if let ids {
            let list = ids == "-" ? readStandardInput() : ids
            let trimmed = list.trimmingCharacters(in: .whitespacesAndNewlines)
            let tokens = trimmed.isEmpty ? [] : try parseList(trimmed, "--ids", Int32.init)
            let out = try orFail { () throws(SwiftletError) in try m.detokenize(tokens, skipSpecial: skipSpecial) }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }
}

/// All of standard input as UTF-8 text.
func readStandardInput() -> String {
    let data = FileHandle.standardInput.readDataToEndOfFile()
    guard let s = String(data: data, encoding: .utf8) else { failAndExit("standard input is not UTF-8 text") }
    return s
}
