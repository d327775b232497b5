import SwiftletFormat
public enum ViTConverter: FamilyConverter {
    public static let family = "vit"
    public static func convert(_ checkpoint: Checkpoint, config: ConstructorConfig, options: ConvertOptions, into output: inout ModelWriter) throws { throw ConvertError("stub") }
}
