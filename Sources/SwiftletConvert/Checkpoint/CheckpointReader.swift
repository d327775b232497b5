import Foundation

/// Reads a checkpoint file into tensors. The format is recognised from the bytes, not the file
/// extension: safetensors, or a `torch.save` zip archive. Nothing in the file is ever executed.
public enum CheckpointReader {
    /// Reads the checkpoint at `path` (memory-mapped), or a Hugging Face model folder: its
    /// `model.safetensors` or `pytorch_model.bin`, with its `config.json` as the extra `config.json`.
    public static func read(path: String) throws -> Checkpoint {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            return try readFolder(path)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: [.alwaysMapped])
        } catch {
            throw CheckpointError("cannot read '\(path)': \(error.localizedDescription)")
        }
        do {
            return try read(data: data)
        } catch let failure as CheckpointError {
            throw CheckpointError("\(path): \(failure.message)")
        }
    }

    static let folderWeights = ["model.safetensors", "pytorch_model.bin"]

    private static func readFolder(_ path: String) throws -> Checkpoint {
        let files = folderWeights.map { (path as NSString).appendingPathComponent($0) }
        guard let weights = files.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            let sharded = FileManager.default.fileExists(
                atPath: (path as NSString).appendingPathComponent("model.safetensors.index.json"))
            throw CheckpointError(
                sharded
                    ? "\(path): sharded checkpoints (model.safetensors.index.json) are not supported; merge the shards into one file"
                    : "\(path) is a folder without \(folderWeights.joined(separator: " or ")); pass the checkpoint file itself"
            )
        }
        let checkpoint = try read(path: weights)
        let configPath = (path as NSString).appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: configPath) else { return checkpoint }
        do {
            return try checkpoint.adding(extras: ["config.json": try data.withUnsafeBytes(StoredValue.json)])
        } catch let failure as CheckpointError {
            throw CheckpointError("\(configPath): \(failure.message)")
        }
    }

    /// Reads a checkpoint held in memory.
    public static func read(data: Data) throws -> Checkpoint {
        try data.withUnsafeBytes { raw in
            let view = CheckpointBytes(raw)
            switch try sniff(view) {
            case .safetensors: return try SafetensorsReader.read(view)
            case .torchZip: return try TorchZipReader.read(view)
            }
        }
    }

    private enum Format { case safetensors, torchZip }

    private static func sniff(_ view: CheckpointBytes) throws -> Format {
        if view.count == 0 { throw CheckpointError("the file is empty") }
        if view.hasPrefix(Array("version https://git-lfs".utf8)) {
            throw CheckpointError(
                "this is a Git LFS pointer file, not the checkpoint itself: fetch the real file "
                    + "(`git lfs pull`, or download it directly) and try again")
        }
        if view.hasPrefix([0x50, 0x4B, 0x03, 0x04]) || view.hasPrefix([0x50, 0x4B, 0x05, 0x06]) {
            return .torchZip
        }
        if SafetensorsReader.looksLikeSafetensors(view) { return .safetensors }
        // A safetensors header whose declared length runs past the end: a truncated download.
        if view.count >= 9, (try? view.u8(8)) == UInt8(ascii: "{"), let n = try? view.u64(0),
            n > UInt64(view.count - 8)
        {
            return .safetensors
        }
        if view.hasPrefix([0x80]), let proto = try? view.u8(1), (2...5).contains(proto) {
            // Legacy torch.save pickles its magic number 0x1950a86a20f9469cfc6c first.
            let legacyMagic: [UInt8] = [0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8]
            if view.hasPrefix(legacyMagic, at: 2) {
                throw CheckpointError(
                    "this checkpoint uses the legacy (non-zip) torch.save format, which is not supported: "
                        + "re-save it with torch.save(obj, path, _use_new_zipfile_serialization=True)")
            }
            throw CheckpointError(
                "this is a plain Python pickle, not a torch zip checkpoint or safetensors file: "
                    + "save the state dict with torch.save(model.state_dict(), path)")
        }
        if view.hasPrefix(Array("ustar".utf8), at: 257) {
            throw CheckpointError(
                "this is a tar archive (the oldest torch.save format?), which is not supported: "
                    + "re-save it with torch.save(obj, path, _use_new_zipfile_serialization=True)")
        }
        if view.hasPrefix([0x93] + Array("NUMPY".utf8)) {
            throw CheckpointError("this is a .npy array, not a checkpoint (read it with NPYArray)")
        }
        if view.hasPrefix([0x1F, 0x8B]) {
            throw CheckpointError("this file is gzip-compressed: decompress it first")
        }
        let head = (0..<min(8, view.count)).compactMap { try? view.u8($0) }
            .map { String($0, radix: 16) }.joined(separator: " ")
        throw CheckpointError(
            "unrecognised checkpoint format (first bytes: \(head)); expected safetensors or a "
                + "torch.save zip archive")
    }
}
