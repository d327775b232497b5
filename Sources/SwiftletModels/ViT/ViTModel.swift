import SwiftletFormat
public final class ViTModel: FamilyModel {
    public static let familyName = "vit"
    public var family: String { Self.familyName }
    public var inputs: [TensorInfo] { [] }
    public var outputs: [TensorInfo] { [] }
    public init(file: SWLFile) throws(ModelError) { throw ModelError(.unsupported, "stub") }
    public func makeRunner(threads: Int) throws(ModelError) -> any FamilyRunner { throw ModelError(.unsupported, "stub") }
}
