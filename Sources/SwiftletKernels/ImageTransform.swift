/// timm's evaluation transform of an RGB image (`transforms_imagenet_eval`, what
/// `create_transform(**resolve_data_config(model=...))` builds for inference), on decoded pixels:
///
/// 1. resize with `filter` (Pillow's, see `ImageResample`): in `center` mode the shorter side becomes
///    `floor(size / cropFraction)` and the aspect ratio is kept (torchvision's `Resize(int)`, the
///    longer side truncated; for a non-square size timm's `ResizeKeepRatio`, both sides rounded); in
///    `squash` mode each side becomes `floor(side / cropFraction)`;
/// 2. crop `height × width` from the centre (torchvision's `CenterCrop`: offsets rounded half to even);
/// 3. scale to [0, 1] (`/ 255`), subtract `mean` and divide by `std` per channel, in float32, in the
///    order torchvision's `ToTensor` and `Normalize` do, so the floats are the same bits.
///
/// The output is channel-major `[3, height, width]`.
public struct ImageTransform: Sendable, Equatable {
    public enum CropMode: String, Sendable, CaseIterable {
        case center, squash
    }

    public let height: Int
    public let width: Int
    /// timm's `crop_pct`, in (0, 1].
    public let cropFraction: Double
    public let cropMode: CropMode
    public let filter: ResampleFilter
    public let mean: [Float]
    public let std: [Float]

    public init(
        height: Int, width: Int, cropFraction: Double, cropMode: CropMode, filter: ResampleFilter, mean: [Float],
        std: [Float]
    ) {
        precondition(height > 0 && width > 0, "ImageTransform: empty output")
        precondition(cropFraction > 0 && cropFraction <= 1, "ImageTransform: crop fraction outside (0, 1]")
        precondition(mean.count == 3 && std.count == 3, "ImageTransform: mean and std need 3 values")
        self.height = height
        self.width = width
        self.cropFraction = cropFraction
        self.cropMode = cropMode
        self.filter = filter
        self.mean = mean
        self.std = std
    }

    /// Floats `apply` writes: `3 · height · width`.
    public var outputCount: Int { 3 * height * width }

    /// The size an image of `width × height` pixels is resized to before the crop.
    public func resizedSize(width w: Int, height h: Int) -> (width: Int, height: Int) {
        // timm: scale_size = floor(size / crop_pct), per side.
        let scaleH = Int((Double(height) / cropFraction).rounded(.down))
        let scaleW = Int((Double(width) / cropFraction).rounded(.down))
        switch cropMode {
        case .squash:
            return (scaleW, scaleH)
        case .center where scaleH == scaleW:
            // torchvision Resize(int): the shorter side (width on ties) to the size, the other truncated.
            let (short, long) = w <= h ? (w, h) : (h, w)
            let newLong = Int(Double(scaleH * long) / Double(short))
            return w <= h ? (scaleH, newLong) : (newLong, scaleH)
        case .center:
            // timm ResizeKeepRatio(longest=0): the side that reaches its target first, both rounded.
            let ratio = min(Double(h) / Double(scaleH), Double(w) / Double(scaleW))
            return (
                Int((Double(w) / ratio).rounded(.toNearestOrEven)),
                Int((Double(h) / ratio).rounded(.toNearestOrEven))
            )
        }
    }

    /// Where the crop lies in an image resized to `resized` (never smaller than the crop: crop_pct ≤ 1).
    public func cropWindow(resized: (width: Int, height: Int)) -> PixelWindow {
        precondition(resized.width >= width && resized.height >= height, "ImageTransform: resized below the crop")
        // Python's round(): half to even.
        let top = Int((Double(resized.height - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(resized.width - width) / 2).rounded(.toNearestOrEven))
        return PixelWindow(x: left, y: top, width: width, height: height)
    }

    /// The resized and cropped image, RGB8 rows (`height × width × 3`): timm's pixels before `ToTensor`.
    public func crop(_ image: RGB8Pixels) -> [UInt8] {
        let size = resizedSize(width: image.width, height: image.height)
        return ImageResample.resize(
            image, width: size.width, height: size.height, filter: filter, window: cropWindow(resized: size))
    }

    /// Writes the model input for `image`, `[3, height, width]` floats, to `out`.
    public func apply(_ image: RGB8Pixels, into out: UnsafeMutablePointer<Float>) {
        normalize(crop(image), into: out)
    }

    /// `[3, height, width]` floats from `height × width` RGB8 pixels: `(v / 255 − mean) / std`.
    public func normalize(_ pixels: [UInt8], into out: UnsafeMutablePointer<Float>) {
        precondition(pixels.count == 3 * height * width, "ImageTransform: pixel count")
        let plane = height * width
        for c in 0..<3 {
            let m = mean[c]
            let s = std[c]
            let dst = out + c * plane
            for i in 0..<plane { dst[i] = (Float(pixels[3 * i + c]) / 255 - m) / s }
        }
    }
}
