import SwiftletFormat

/// Maps a file's `general.family` to the family that loads it: the one list of families in the
/// runtime (adding a family adds one line here; see CONTRIBUTING.md).
public enum FamilyRegistry {
    private static let loaders: [(name: String, load: @Sendable (SWLFile) throws(ModelError) -> any FamilyModel)] = [
        (ViTModel.familyName, { (f) throws(ModelError) in try ViTModel(file: f) }),
        (LMUFormerModel.familyName, { (f) throws(ModelError) in try LMUFormerModel(file: f) }),
        (LoopFormerModel.familyName, { (f) throws(ModelError) in try LoopFormerModel(file: f) }),
        (MemoryFormerModel.familyName, { (f) throws(ModelError) in try MemoryFormerModel(file: f) }),
        (TestModel.familyName, { (f) throws(ModelError) in try TestModel(file: f) }),
    ]

    /// Which matrices of each family's files may be compact, and the compact types its loader reads
    /// in place (each rule sits beside the family's schema); nil for a family without such matrices.
    private static let compact: [String: CompactWeights] = [
        ViTModel.familyName: ViTSchema.compactWeights,
        LMUFormerModel.familyName: LMUFormerSchema.compactWeights,
        LoopFormerModel.familyName: LoopFormerSchema.compactWeights,
        MemoryFormerModel.familyName: MemoryFormerSchema.compactWeights,
    ]

    /// The compact-weight rule of `family` (`swiftlet quantize`), nil when the family has none.
    public static func compactWeights(family: String) -> CompactWeights? { compact[family] }

    /// Families this build runs.
    public static var families: [String] { loaders.map(\.name) }

    public static func load(_ file: SWLFile) throws(ModelError) -> any FamilyModel {
        guard let family = file.family else {
            throw ModelError(
                .format, "the file has no 'general.family' metadata; convert it again with `swiftlet convert`")
        }
        guard let loader = loaders.first(where: { $0.name == family }) else {
            throw ModelError(
                .unsupported, "unknown model family '\(family)'; this build runs: \(families.joined(separator: ", "))")
        }
        return try loader.load(file)
    }
}
