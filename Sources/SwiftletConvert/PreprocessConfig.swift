import Foundation
import SwiftletFormat

/// The data config of an image classifier, from timm's `pretrained_cfg` (`model.pretrained_cfg`
/// saved as JSON, or the `config.json` of a Hugging Face timm folder, which holds it under
/// "pretrained_cfg"): what `swiftlet convert --preprocess` stores as `image.*` metadata
/// (`ImageSchema`). Keys are read as timm's `resolve_data_config` reads them (a missing, null, empty
/// or zero value takes timm's default); `input_size` must be the model's own. Other keys (url,
/// num_classes, `test_input_size`, ...) are ignored.
public struct PreprocessConfig: Sendable, Equatable {
    /// Where the values came from, for messages.
    public let source: String
    public var interpolation: String?
    public var cropFraction: Double?
    public var cropMode: String?
    public var mean: [Double]?
    public var std: [Double]?
    public var inputSize: [Int]?

    public init(
        source: String, interpolation: String? = nil, cropFraction: Double? = nil, cropMode: String? = nil,
        mean: [Double]? = nil, std: [Double]? = nil, inputSize: [Int]? = nil
    ) {
        self.source = source
        self.interpolation = interpolation
        self.cropFraction = cropFraction
        self.cropMode = cropMode
        self.mean = mean
        self.std = std
        self.inputSize = inputSize
    }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConvertError("cannot read the preprocessing config \(path)")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConvertError("\(path) is not valid JSON (\(error.localizedDescription))")
        }
        guard let values = object as? [String: Any] else {
            throw ConvertError("\(path) must hold a JSON object (timm's pretrained_cfg)")
        }
        try self.init(json: values, source: path)
    }

    public init(json: [String: Any], source: String) throws {
        var values = json
        var source = source
        if let nested = json["pretrained_cfg"] as? [String: Any] {
            values = nested
            source += " (pretrained_cfg)"
        }
        self.source = source
        func present(_ key: String) -> Any? {
            // timm: `pretrained_cfg.get(key, None)` tested for truth.
            switch values[key] {
            case nil, is NSNull: return nil
            case let s as String where s.isEmpty: return nil
            case let a as [Any] where a.isEmpty: return nil
            case let n as NSNumber where key == "crop_pct" && n.doubleValue == 0: return nil
            case let v?: return v
            }
        }
        func fail(_ key: String, _ what: String) -> ConvertError {
            ConvertError("\(source): \(key) must be \(what), got \(String(describing: values[key]!))")
        }
        func number(_ v: Any) -> Double? { ConstructorConfig.number(v)?.doubleValue }
        func numbers(_ key: String) throws -> [Double]? {
            guard let v = present(key) else { return nil }
            guard let list = v as? [Any] else { throw fail(key, "a list of numbers") }
            let doubles = list.compactMap(number)
            guard doubles.count == list.count else { throw fail(key, "a list of numbers") }
            return doubles
        }
        if let v = present("interpolation") {
            guard let s = v as? String else { throw fail("interpolation", "a string") }
            interpolation = s
        }
        if let v = present("crop_pct") {
            guard let d = number(v) else { throw fail("crop_pct", "a number") }
            cropFraction = d
        }
        if let v = present("crop_mode") {
            guard let s = v as? String else { throw fail("crop_mode", "a string") }
            cropMode = s
        }
        mean = try numbers("mean")
        std = try numbers("std")
        if let sizes = try numbers("input_size") {
            guard sizes.count == 3, sizes.allSatisfy({ $0 >= 1 && $0 <= 65536 && $0 == $0.rounded() }) else {
                throw fail("input_size", "[channels, height, width]")
            }
            inputSize = sizes.map { Int($0) }
        }
    }

    /// The `image.*` metadata for a model that takes `channels × height × width` images, and a warning
    /// for each value that fell back to timm's default. Refuses values the runtime cannot reproduce,
    /// naming the key.
    public func metadata(channels: Int, height: Int, width: Int) throws -> (
        values: [(key: String, value: MetadataValue)], warnings: [String]
    ) {
        typealias K = ImageSchema.Key
        var warnings: [String] = []
        func defaulted<T>(_ value: T?, _ key: String, _ fallback: T) -> T {
            if let value { return value }
            warnings.append("\(source) has no \(key); using timm's default \(fallback)")
            return fallback
        }
        if let inputSize, inputSize != [channels, height, width] {
            throw ConvertError(
                "\(source): input_size \(inputSize) does not match the model, which takes [\(channels), \(height), \(width)] images"
            )
        }
        guard channels == 3 else {
            throw ConvertError(
                "\(source): image preprocessing needs a model that takes 3 (RGB) channels, not \(channels)")
        }
        let interpolation = defaulted(self.interpolation, "interpolation", ImageSchema.defaultInterpolation)
        guard ImageSchema.interpolations.contains(interpolation) else {
            throw ConvertError(
                "\(source): interpolation '\(interpolation)' is not supported (\(ImageSchema.interpolations.joined(separator: ", ")))"
            )
        }
        let mode = defaulted(cropMode, "crop_mode", ImageSchema.defaultCropMode)
        guard ImageSchema.cropModes.contains(mode) else {
            throw ConvertError(
                "\(source): crop_mode '\(mode)' is not supported (\(ImageSchema.cropModes.joined(separator: ", ")))")
        }
        let crop = defaulted(cropFraction, "crop_pct", ImageSchema.defaultCropFraction)
        guard crop.isFinite, ImageSchema.cropFractionRange.contains(crop) else {
            throw ConvertError(
                "\(source): crop_pct \(crop) is not supported (\(ImageSchema.cropFractionRange.lowerBound)...\(ImageSchema.cropFractionRange.upperBound); above 1 would need padding)"
            )
        }
        func triple(_ values: [Double]?, _ key: String, _ fallback: [Double], _ range: ClosedRange<Double>) throws
            -> [Double]
        {
            var v = defaulted(values, key, fallback)
            if v.count == 1 { v = Array(repeating: v[0], count: 3) } // timm repeats one value per channel
            guard v.count == 3, v.allSatisfy({ $0.isFinite && range.contains($0) }) else {
                throw ConvertError(
                    "\(source): \(key) must be 1 or 3 numbers in \(range.lowerBound)...\(range.upperBound), got \(v)")
            }
            return v
        }
        let mean = try triple(self.mean, "mean", ImageSchema.defaultMean, ImageSchema.meanRange)
        let std = try triple(self.std, "std", ImageSchema.defaultStd, ImageSchema.stdRange)
        return (
            [
                (K.interpolation, .string(interpolation)), (K.cropFraction, .float(crop)), (K.cropMode, .string(mode)),
                (K.mean, .floats(mean)), (K.std, .floats(std)),
            ], warnings
        )
    }
}
