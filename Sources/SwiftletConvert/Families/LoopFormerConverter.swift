import SwiftletFormat
public enum LoopFormerConverter: FamilyConverter {
    public static let family = "loopformer"
    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions, into output: inout ModelWriter) throws { throw ConvertError("stub") }
}
