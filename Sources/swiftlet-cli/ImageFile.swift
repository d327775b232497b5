import CSwiftletImageIO
import Foundation
import Swiftlet

/// A PNG or JPEG file as RGB8 pixels (libpng, libjpeg-turbo; `swiftlet_image_io.h`): what timm's
/// loader, Pillow's `Image.open(path).convert("RGB")`, makes of it. Alpha is dropped, grey and palette
/// images become RGB, EXIF orientation is ignored. A damaged or unsupported file exits with a one-line
/// error naming it.
func readImage(_ path: String) -> RGB8Image {
    checkInputPath(path, flag: "--image")
    guard let data = FileManager.default.contents(atPath: path) else {
        failAndExit("\(path): cannot read the file")
    }
    var image = swi_image()
    var message = [CChar](repeating: 0, count: 512)
    let status = data.withUnsafeBytes { raw in
        swi_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &image, &message, message.count)
    }
    guard status == 0, let rgb = image.rgb else {
        failAndExit(
            "\(path): \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
    }
    defer { swi_image_free(&image) }
    let count = Int(image.width) * Int(image.height) * 3
    let pixels = Array(UnsafeBufferPointer(start: rgb, count: count))
    do {
        return try RGB8Image(width: Int(image.width), height: Int(image.height), pixels: pixels)
    } catch {
        failAndExit("\(path): \(error.message)")
    }
}
