/// Lends float32 views of owned tensors for the duration of `body`.
func withViews<R>(_ tensors: [Tensor], _ body: ([TensorView]) -> R) -> R {
    var views: [TensorView] = []
    views.reserveCapacity(tensors.count)
    func next(_ i: Int) -> R {
        if i == tensors.count { return body(views) }
        return tensors[i].values.withUnsafeBytes { raw in
            views.append(
                TensorView(
                    dtype: .f32, shape: tensors[i].shape,
                    data: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 16)!))
            return next(i + 1)
        }
    }
    return next(0)
}
