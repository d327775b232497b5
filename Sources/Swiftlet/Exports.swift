@_exported import enum SwiftletFormat.MetadataValue
@_exported import struct SwiftletModels.Budget
@_exported import enum SwiftletModels.BudgetKnob
@_exported import enum SwiftletModels.ElementType
@_exported import enum SwiftletModels.Log
@_exported import enum SwiftletModels.LogLevel
@_exported import struct SwiftletModels.RunReport
@_exported import enum SwiftletModels.StreamInput
@_exported import struct SwiftletModels.Tensor
@_exported import struct SwiftletModels.TensorInfo
@_exported import struct SwiftletModels.TensorView

/// The library version, e.g. "0.1.0".
public let swiftletVersion = "0.1.0"
/// The C ABI version this library implements (SWL_ABI_VERSION).
public let swiftletABIVersion: UInt32 = 1
