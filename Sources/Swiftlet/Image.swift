import SwiftletKernels
import SwiftletModels

/// Decoded 8-bit RGB pixels: `height` rows of `width` pixels of three bytes (R, G, B), row `y`
/// starting at byte `y · rowStride`. Decoding files (PNG, JPEG) is the caller's business: the
/// `swiftlet` tool uses libpng and libjpeg-turbo; images with alpha, grey or a palette convert to RGB
/// first (timm's loader, Pillow's `convert("RGB")`, drops alpha).
public struct RGB8Image: Sendable {
    public let width: Int
    public let height: Int
    public let rowStride: Int
    public let pixels: [UInt8]

    /// Checks that `pixels` holds the image (`rowStride` defaults to `3 · width`, rows packed).
    public init(width: Int, height: Int, pixels: [UInt8], rowStride: Int? = nil) throws(SwiftletError) {
        let stride = rowStride ?? 3 * width
        do { try ImagePreprocessing.validate(width: width, height: height, rowStride: stride) } catch {
            throw SwiftletError(error)
        }
        let needed = stride * (height - 1) + 3 * width
        guard pixels.count >= needed else {
            throw .shape(
                "\(width)×\(height) RGB pixels with rows \(stride) bytes apart need \(needed) bytes, got \(pixels.count)"
            )
        }
        self.width = width
        self.height = height
        self.rowStride = stride
        self.pixels = pixels
    }

    func withPixels<R>(_ body: (RGB8Pixels) -> R) -> R {
        pixels.withUnsafeBufferPointer { p in
            body(RGB8Pixels(base: p.baseAddress!, width: width, height: height, rowStride: rowStride))
        }
    }
}

/// Borrowed RGB8 pixels with unchecked geometry (a C caller's buffer), for `Model.preprocess` and
/// `Session.run` below: checked before anything reads them.
package struct BorrowedRGB8 {
    package let base: UnsafePointer<UInt8>
    package let width: Int
    package let height: Int
    package let rowStride: Int

    package init(base: UnsafePointer<UInt8>, width: Int, height: Int, rowStride: Int) {
        self.base = base
        self.width = width
        self.height = height
        self.rowStride = rowStride
    }

    func checked() throws(ModelError) -> RGB8Pixels {
        try ImagePreprocessing.validate(width: width, height: height, rowStride: rowStride)
        return RGB8Pixels(base: base, width: width, height: height, rowStride: rowStride)
    }
}

extension Model {
    /// The input shape an image becomes, `[1, 3, height, width]`; throws `.unsupported` for a model
    /// without image preprocessing (not a vit, or converted without `--preprocess`).
    public var imageInputShape: [Int] {
        get throws(SwiftletError) {
            do {
                let t = try impl.imageTransform()
                return [1, 3, t.height, t.width]
            } catch { throw SwiftletError(error) }
        }
    }

    /// The model's input for an image, `[1, 3, height, width]`: timm's evaluation transform with the
    /// file's `image.*` settings (resize with Pillow's filter, centre crop, mean/std). Thread-safe.
    public func preprocess(_ image: RGB8Image) throws(SwiftletError) -> Tensor {
        let transform: ImageTransform
        do { transform = try impl.imageTransform() } catch { throw SwiftletError(error) }
        var values = [Float](repeating: 0, count: transform.outputCount)
        image.withPixels { p in values.withUnsafeMutableBufferPointer { transform.apply(p, into: $0.baseAddress!) } }
        return Tensor(shape: [1, 3, transform.height, transform.width], values: values)
    }

    /// Checks a borrowed image's geometry (what `preprocess` and `Session.run(image:)` check first).
    package func checkImage(_ image: BorrowedRGB8) throws(SwiftletError) {
        do { _ = try image.checked() } catch { throw SwiftletError(error) }
    }

    /// `preprocess` into caller memory of `3 · height · width` floats (see `imageInputShape`).
    package func preprocess(_ image: BorrowedRGB8, into out: UnsafeMutablePointer<Float>) throws(SwiftletError) {
        do {
            let transform = try impl.imageTransform()
            transform.apply(try image.checked(), into: out)
        } catch { throw SwiftletError(error) }
    }
}

extension Session {
    /// Runs an image classifier on one image: the model's preprocessing (`Model.preprocess`) makes the
    /// `[1, 3, H, W]` input, then the model runs as `run(_:budget:)` does; the time and the budget
    /// cover both. Throws `.unsupported` for a model without image preprocessing.
    public func run(image: RGB8Image, budget: Budget = Budget()) throws(SwiftletError) -> (
        outputs: [Tensor], report: RunReport
    ) {
        let result: Result<(outputs: [Tensor], report: RunReport), SwiftletError> = image.pixels.withUnsafeBufferPointer
        { p in
            Result { () throws(SwiftletError) in
                let view = BorrowedRGB8(
                    base: p.baseAddress!, width: image.width, height: image.height, rowStride: image.rowStride)
                return try busy.run("session") { () throws(SwiftletError) in
                    let report = try runImageLocked(view, budget: budget)
                    return (outputs, report)
                }
            }
        }
        return try result.get()
    }

    /// `run(image:budget:)` on borrowed pixels; the outputs land in `lastOutputs`.
    @discardableResult
    package func run(image: BorrowedRGB8, budget: Budget = Budget()) throws(SwiftletError) -> RunReport {
        try busy.run("session") { () throws(SwiftletError) in try runImageLocked(image, budget: budget) }
    }

    private func runImageLocked(_ image: BorrowedRGB8, budget: Budget) throws(SwiftletError) -> RunReport {
        // Refused before the call starts: nothing is read from an image the model cannot take.
        let transform: ImageTransform
        let pixels: RGB8Pixels
        do {
            transform = try model.impl.imageTransform()
            pixels = try image.checked()
        } catch { throw SwiftletError(error) }
        let runner = self.runner
        return try runLocked(budget: budget) { () throws(ModelError) in
            var input = [Float](repeating: 0, count: transform.outputCount)
            input.withUnsafeMutableBufferPointer { transform.apply(pixels, into: $0.baseAddress!) }
            let result: Result<[Tensor], ModelError> = input.withUnsafeBytes { raw in
                Result { () throws(ModelError) in
                    let view = TensorView(
                        dtype: .f32, shape: [1, 3, transform.height, transform.width], data: raw.baseAddress!)
                    return try runner.run([view], budget: budget)
                }
            }
            return try result.get()
        }
    }
}
