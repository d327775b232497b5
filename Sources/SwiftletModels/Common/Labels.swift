import SwiftletFormat

/// The class names a classifier carries in `general.labels`.
public enum Labels {
    /// The names, or nil if the file has none. Refuses a list whose length is not the model's class
    /// count (`classes`, the width of its output rows), or that a language model carries.
    public static func load(_ metadata: [String: MetadataValue], classes: Int?) throws(ModelError) -> [String]? {
        guard let value = metadata[GeneralSchema.Key.labels] else { return nil }
        let key = GeneralSchema.Key.labels
        guard case .strings(let names) = value else { throw ModelError(.format, "\(key) must be a list of strings") }
        guard let classes else {
            throw ModelError(.format, "\(key) is set, but this model has no classes to name")
        }
        guard names.count == classes else {
            throw ModelError(
                .format,
                "\(key) has \(names.count) names, but the model has \(classes) classes; convert it again with --labels")
        }
        for (i, name) in names.enumerated() {
            guard !name.isEmpty, name.utf8.count <= GeneralSchema.maxLabelBytes else {
                throw ModelError(
                    .format, "\(key)[\(i)] must be 1 to \(GeneralSchema.maxLabelBytes) bytes, has \(name.utf8.count)")
            }
        }
        return names
    }
}
