import Foundation
import Testing

@testable import SwiftletConvert

/// A conversion without --name is named after its checkpoint, so `general.name` is always there.
@Suite struct DefaultNameTests {
    @Test func fileNameWithoutItsExtension() {
        #expect(Converter.defaultName(checkpointPath: "/models/deit_tiny_patch16_224.pth") == "deit_tiny_patch16_224")
        #expect(Converter.defaultName(checkpointPath: "weights/model.v2.safetensors") == "model.v2")
        #expect(Converter.defaultName(checkpointPath: "ckpt") == "ckpt")
    }

    @Test func pthAndSafetensorsOfOneNameAgree() {
        let folder = Fixtures.path("vit-tiny-test")
        #expect(
            Converter.defaultName(checkpointPath: folder + "/checkpoint.pth")
                == Converter.defaultName(checkpointPath: folder + "/checkpoint.safetensors"))
    }

    @Test func folderKeepsItsWholeName() {
        // A Hugging Face folder: its name, dots included, with or without a trailing slash.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlet-name-\(getpid()).v1")
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let expected = folder.lastPathComponent
        #expect(Converter.defaultName(checkpointPath: folder.path) == expected)
        #expect(Converter.defaultName(checkpointPath: folder.path + "/") == expected)
    }
}
