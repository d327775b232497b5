import ArgumentParser
import Foundation
import SwiftletConvert
import SwiftletKernels

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute the LMUFormer audio front end's features of a WAV file.",
        discussion: """
            Kaldi-compatible log-mel filterbank (128 bins, 25 ms Hann window, 10 ms shift, \
            pre-emphasis 0.97, DC removal, HTK mel, natural log) of 16 kHz mono 16-bit PCM. By \
            default the output is the model input of the Speech Commands LMUFormer: padded or cut \
            to 128 frames and normalised as (x + 6.845978) / (2 × 5.5654526), shape [128, 128]. \
            With --raw: the log-mel frames only, shape [frames, 128].

            Example:
              swiftlet features --wav yes.wav --output yes.npy
            """)

    @Option(help: "16 kHz mono 16-bit PCM WAV file.") var wav: String
    @Option(help: "Where to write the features (.npy).") var output: String
    @Flag(help: "Write the raw log-mel frames, without padding or normalisation.") var raw = false

    func run() throws {
        checkInputPath(wav, flag: "--wav")
        checkOutputPath(output, flag: "--output")
        let samples: [Int16]
        do { samples = try readWAV16kMono(wav) } catch { failAndExit("--wav \(wav): \(error)") }
        let options = FbankOptions.speechCommands
        let result: (frames: Int, values: [Float])
        do {
            result = try samples.withUnsafeBufferPointer { (p) throws(KernelError) in
                try FbankExtractor.features(pcm: p, options: options)
            }
        } catch {
            failAndExit("--wav \(wav): \(error)")
        }
        let bins = result.frames > 0 ? result.values.count / result.frames : options.numMelBins
        var values = result.values
        var frames = result.frames
        if !raw {
            do {
                values = try FbankNormalization.speechCommands.modelInput(
                    features: result.values, frames: result.frames, bins: bins)
            } catch {
                failAndExit("--wav \(wav): \(error)")
            }
            frames = values.count / bins
        }
        do {
            try NPYArray(floats: values, shape: [frames, bins]).write(to: output)
        } catch {
            failAndExit("\(error)")
        }
        note(
            "\(wav): \(samples.count) samples → \(result.frames) frames\(raw ? "" : " → [\(frames), \(bins)] model input")"
        )
    }
}
