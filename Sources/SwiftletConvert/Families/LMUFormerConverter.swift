import SwiftletFormat
public enum LMUFormerConverter: FamilyConverter {
    public static let family = "lmuformer"
    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions, into output: inout ModelWriter) throws { throw ConvertError("stub") }
}
