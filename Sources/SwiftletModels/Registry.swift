import SwiftletFormat

/// Maps a file's `general.family` to the family that loads it.
public enum FamilyRegistry {
    /// Families this build runs.
    public static let families: [String] = [
        ViTModel.familyName, LMUFormerModel.familyName, LoopFormerModel.familyName,
        MemoryFormerModel.familyName, TestModel.familyName,
    ]

    public static func load(_ file: SWLFile) throws(ModelError) -> any FamilyModel {
        guard let family = file.family else {
            throw ModelError(.format, "the file has no 'general.family' metadata; convert it again with `swiftlet convert`")
        }
        switch family {
        case ViTModel.familyName: return try ViTModel(file: file)
        case LMUFormerModel.familyName: return try LMUFormerModel(file: file)
        case LoopFormerModel.familyName: return try LoopFormerModel(file: file)
        case MemoryFormerModel.familyName: return try MemoryFormerModel(file: file)
        case TestModel.familyName: return try TestModel(file: file)
        default:
            throw ModelError(.unsupported, "unknown model family '\(family)'; this build runs: \(families.joined(separator: ", "))")
        }
    }
}
