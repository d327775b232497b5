/// How an image classifier (today `vit`) turns a decoded RGB image into its input: timm's evaluation
/// transform (`timm.data.create_transform` with `resolve_data_config` of the model's `pretrained_cfg`).
/// Written by `swiftlet convert --preprocess`; the input size is the model's own (`vit.image_size`).
/// All five keys are written together; `image.interpolation` present means the file has them.
public enum ImageSchema {
    public enum Key {
        /// string, one of `interpolations`: the resampling filter of the resize (Pillow's).
        public static let interpolation = "image.interpolation"
        /// float in `cropFractionRange`: timm's `crop_pct`; the shorter side is resized to
        /// floor(size / crop_pct) before the centre crop.
        public static let cropFraction = "image.crop_pct"
        /// string, one of `cropModes`: timm's `crop_mode`.
        public static let cropMode = "image.crop_mode"
        /// [float], 3 values: subtracted from each channel after scaling to [0, 1].
        public static let mean = "image.mean"
        /// [float], 3 positive values: each channel is divided by it after the mean.
        public static let std = "image.std"

        public static let all = [interpolation, cropFraction, cropMode, mean, std]
    }

    /// Filters the runtime reproduces (timm's names, Pillow's filters). `nearest` and `hamming` are not
    /// implemented.
    public static let interpolations = ["bicubic", "bilinear", "lanczos", "box"]
    /// `center`: resize keeping the aspect ratio, then crop the centre; `squash`: resize each side to
    /// size / crop_pct, then crop. (`border`, which pads, is not implemented.)
    public static let cropModes = ["center", "squash"]
    /// crop_pct above 1 would need padding, which the runtime does not do.
    public static let cropFractionRange = 0.1...1.0
    /// Bounds for hostile files; real values lie in [0, 1].
    public static let meanRange = -1000.0...1000.0
    public static let stdRange = 1e-6...1000.0

    /// timm's defaults (`resolve_data_config`) for keys a `pretrained_cfg` leaves out.
    public static let defaultInterpolation = "bicubic"
    public static let defaultCropFraction = 0.875
    public static let defaultCropMode = "center"
    public static let defaultMean = [0.485, 0.456, 0.406]
    public static let defaultStd = [0.229, 0.224, 0.225]
}
