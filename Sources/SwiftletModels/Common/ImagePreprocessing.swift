import SwiftletFormat
import SwiftletKernels

/// The `image.*` keys of a classifier (`ImageSchema`): timm's evaluation transform from decoded RGB
/// pixels to the model's input.
public enum ImagePreprocessing {
    static let advice = "convert the model again with --preprocess (timm's pretrained_cfg JSON)"

    /// The transform to a `[3, height, width]` input, nil when the file carries no `image.*` keys.
    /// Values that are malformed (wrong type, count, range) make the file unusable (`.format`); a
    /// filter or crop mode this runtime does not implement, or a model that does not take 3 channels,
    /// is kept as the error that image input will throw (`.unsupported`), so the model still loads.
    public static func load(_ w: Weights, height: Int, width: Int, channels: Int) throws(ModelError)
        -> Result<ImageTransform, ModelError>?
    {
        typealias K = ImageSchema.Key
        let metadata = w.file.metadata
        guard metadata[K.interpolation] != nil else {
            if let stray = K.all.first(where: { metadata[$0] != nil }) {
                throw ModelError(.format, "metadata '\(stray)' is set but '\(K.interpolation)' is missing; \(advice)")
            }
            return nil
        }
        let interpolation = try w.string(K.interpolation)
        let mode = try w.string(K.cropMode)
        let cropFraction = try w.double(K.cropFraction, in: ImageSchema.cropFractionRange)
        let mean = try triple(w, K.mean, in: ImageSchema.meanRange)
        let std = try triple(w, K.std, in: ImageSchema.stdRange)
        guard let filter = ResampleFilter(rawValue: interpolation) else {
            return .failure(
                ModelError(
                    .unsupported,
                    "\(K.interpolation) '\(interpolation)' is not supported (this runtime resizes with \(ImageSchema.interpolations.joined(separator: ", ")))"
                ))
        }
        guard let cropMode = ImageTransform.CropMode(rawValue: mode) else {
            return .failure(
                ModelError(
                    .unsupported,
                    "\(K.cropMode) '\(mode)' is not supported (this runtime crops with \(ImageSchema.cropModes.joined(separator: ", ")))"
                ))
        }
        guard channels == 3 else {
            return .failure(
                ModelError(.unsupported, "this model takes \(channels)-channel images; image input needs 3 (RGB)"))
        }
        return .success(
            ImageTransform(
                height: height, width: width, cropFraction: cropFraction, cropMode: cropMode, filter: filter,
                mean: mean.map(Float.init), std: std.map(Float.init)))
    }

    private static func triple(_ w: Weights, _ key: String, in range: ClosedRange<Double>) throws(ModelError)
        -> [Double]
    {
        guard case .floats(let values)? = w.file.metadata[key] else {
            throw ModelError(.format, "metadata '\(key)' (3 numbers, one per channel) is missing; \(advice)")
        }
        guard values.count == 3, values.allSatisfy({ $0.isFinite && range.contains($0) }) else {
            throw ModelError(
                .format,
                "metadata '\(key)' must be 3 finite numbers in \(range.lowerBound)...\(range.upperBound), got \(values)"
            )
        }
        return values
    }

    /// Image sizes the runtime accepts (per side): enough for any photo, and a bound on the work and
    /// memory a caller's numbers can ask for.
    public static let maxSide = 65535

    /// Checks what a caller passes as an image before anything reads it.
    public static func validate(width: Int, height: Int, rowStride: Int) throws(ModelError) {
        guard width > 0, height > 0 else {
            throw ModelError(.shape, "the image is \(width)×\(height) pixels; it must have at least one pixel")
        }
        guard width <= maxSide, height <= maxSide else {
            throw ModelError(
                .shape, "the image is \(width)×\(height) pixels; at most \(maxSide) pixels per side are supported")
        }
        guard rowStride >= 3 * width else {
            throw ModelError(
                .invalidArgument,
                "the row stride is \(rowStride) bytes, less than the \(3 * width) bytes of a row of \(width) RGB pixels"
            )
        }
        guard !rowStride.multipliedReportingOverflow(by: height).overflow else {
            throw ModelError(
                .shape, "\(height) rows \(rowStride) bytes apart span more bytes than any memory holds")
        }
    }
}
