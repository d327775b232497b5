import ArgumentParser
import Foundation
import Swiftlet
import SwiftletFormat

// Help texts: a paragraph is one line (a backslash at the end of a source line joins it to the next),
// so that the help reflows it to the terminal's width; an example is a line of its own, at most 78
// columns, continued on the next line after a trailing backslash (written \\) when longer.
// scripts/check-help.sh checks every command's help at 80 columns.

@main
struct SwiftletCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftlet",
        abstract: "Convert, inspect, run and benchmark efficient transformers under a compute budget.",
        discussion: """
            Swiftlet runs four families of efficient transformers on the CPU from compressed .swl \
            files: token-merging ViTs (vit), LMUFormer (lmuformer), LoopFormer (loopformer) and \
            MemoryFormer (memoryformer). A typical session:

              swiftlet convert --family vit --config kwargs.json --checkpoint deit.pth \\
                  --output deit.swl
              swiftlet inspect deit.swl --verify
              swiftlet run deit.swl --input images.npy --merge-r 8
              swiftlet bench deit.swl --budget r=0 --budget r=8 --budget ms=20
              swiftlet convert --family loopformer --checkpoint ckpt.pt \\
                  --tokenizer tokenizer.json --output lm.swl
              swiftlet generate lm.swl --prompt "def fibonacci(n):" --max-tokens 60

            Run `swiftlet help <command>` for the options of each command.
            """,
        version: swiftletVersion,
        subcommands: [
            Convert.self, Inspect.self, Run.self, Generate.self, Tokenize.self, StreamCommand.self, Bench.self,
            Profile.self, QuantizeCommand.self,
            Compare.self, Features.self,
            CreateTestModel.self,
        ]
    )

    /// `swiftlet` alone names no command: the usage and the commands go to stderr, and the exit
    /// status is 2, as for any other usage error.
    func run() throws {
        let help = Self.helpMessage()
        let usage = help.range(of: "USAGE:").map { String(help[$0.lowerBound...]) } ?? help
        FileHandle.standardError.write(Data((usage.hasSuffix("\n") ? usage : usage + "\n").utf8))
        throw ExitCode(2)
    }
}

/// Prints a one-line error and exits non-zero: the CLI never shows a stack trace for bad input.
func failAndExit(_ message: String) -> Never {
    ProgressLine.clear()
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    Foundation.exit(1)
}

func note(_ message: String) {
    ProgressLine.clear()
    fflush(nil) // keep stdout rows and stderr notes in order when both go to one terminal or file
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

/// One line on stderr that is rewritten as work goes on ("converting: tensor 40/152, ..."), shown only
/// when stderr is a terminal: never in a pipe or a log file. Notes and errors clear it first.
enum ProgressLine {
    nonisolated(unsafe) private static var shown = false
    nonisolated(unsafe) private static var last = Date.distantPast
    static let enabled = isatty(STDERR_FILENO) == 1

    /// Shows `text` (at most ten times a second unless `force`).
    static func show(_ text: @autoclosure () -> String, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(last) >= 0.1 else { return }
        last = now
        var line = text()
        let width = terminalWidth()
        if line.count >= width { line = String(line.prefix(width - 1)) }
        FileHandle.standardError.write(Data("\r\(line)\u{1B}[K".utf8))
        shown = true
    }

    /// Removes the line, if one is shown.
    static func clear() {
        guard shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        shown = false
        last = .distantPast
    }

    private static func terminalWidth() -> Int {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
    }
}

/// "1.2 MB": a byte count for people.
func formatBytes(_ n: Int) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB"]
    var value = Double(n)
    var unit = 0
    while value >= 1000 && unit < units.count - 1 {
        value /= 1000
        unit += 1
    }
    return unit == 0 ? "\(n) bytes" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
}

/// Exits with a one-line error unless `path` can be created: its folder must exist (it is not
/// created) and the path must not be a folder. `flag` names the option that gave the path.
func checkOutputPath(_ path: String, flag: String?) {
    let what = flag.map { "\($0) \(path)" } ?? "cannot write \(path)"
    let folder = (path as NSString).deletingLastPathComponent
    var isFolder: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
        failAndExit("\(what): that is a folder; give a file name")
    }
    guard !folder.isEmpty else { return }
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) else {
        failAndExit("\(what): the folder \(folder) does not exist; create it first (mkdir -p \(folder))")
    }
    guard isFolder.boolValue else { failAndExit("\(what): \(folder) is not a folder") }
}

/// Writes `writer`'s file beside `output` (as `output` + `suffix`) and renames it into place, so that
/// rewriting a model (even in place) never leaves half a file; exits with a one-line error otherwise.
func writeReplacing(_ writer: SWLWriter, to output: String, suffix: String) {
    let temporary = output + suffix
    do {
        try writer.write(to: temporary)
    } catch {
        try? FileManager.default.removeItem(atPath: temporary)
        failAndExit("--output \(output): \(error.message)")
    }
    guard rename(temporary, output) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(atPath: temporary)
        failAndExit("cannot move \(temporary) to \(output): \(reason)")
    }
}

/// Exits with a one-line error unless `path` names a readable file (or folder, if `folderAllowed`).
func checkInputPath(_ path: String, flag: String?, folderAllowed: Bool = false) {
    let what = flag.map { "\($0) \(path)" } ?? path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        failAndExit("\(what): no such file")
    }
    if isFolder.boolValue && !folderAllowed { failAndExit("\(what) is a folder; give a file") }
    guard FileManager.default.isReadableFile(atPath: path) else {
        failAndExit("\(what): permission denied")
    }
}
