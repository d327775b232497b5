extension SWLWriter {
    /// A writer holding every tensor and metadata value of `file`, each tensor with the codec and
    /// filter it was stored with, so that a tool can change metadata and write the file again
    /// (`swiftlet profile`). Every tensor is read and its checksum verified on the way.
    public init(copying file: SWLFile) throws(FormatError) {
        self.init()
        for (key, value) in file.metadata where key != "general.tensor_hash" {
            setMetadata(key, value)
        }
        for entry in file.tensors {
            guard let dtype = entry.dtype, let codec = entry.codec else {
                throw FormatError(
                    .unsupportedDType, "tensor '\(entry.name)' uses a data type or codec this Swiftlet does not know",
                    tensor: entry.name)
            }
            let bytes = try file.rawBytes(entry.name, verifyChecksum: true)
            try addTensor(
                name: entry.name, dtype: dtype, shape: entry.shape, bytes: Array(bytes), codec: codec,
                shuffle: entry.shuffle)
            file.releasePages(entry.name)
        }
    }
}
