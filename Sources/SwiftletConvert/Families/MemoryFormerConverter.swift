import SwiftletFormat
public enum MemoryFormerConverter: FamilyConverter {
    public static let family = "memoryformer"
    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions, into output: inout ModelWriter) throws { throw ConvertError("stub") }
}
