// swift-tools-version:6.1
import PackageDescription

// Linker flags for the shared library only: the Swift runtime linked statically, only swl_* exported,
// and a soname. They sit on the C-ABI target, which only the SwiftletShared product contains, so the
// Swift products stay free of unsafe flags.
let root = Context.packageDirectory
let sharedLibraryFlags: [String] = [
    "-static-stdlib",
    "-Xlinker", "--version-script=\(root)/Sources/SwiftletC/exports.map",
    "-Xlinker", "-soname=libswiftlet.so.0",
]

let package = Package(
    name: "Swiftlet",
    products: [
        .library(name: "Swiftlet", targets: ["Swiftlet"]),
        // Built as libSwiftletShared.so; `make` installs it as libswiftlet.so (soname libswiftlet.so.0).
        .library(name: "SwiftletShared", type: .dynamic, targets: ["SwiftletC"]),
        .executable(name: "swiftlet", targets: ["swiftlet-cli"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSwiftletABI", path: "Include"),
        // Image files, for the tool only: the library takes decoded pixels and links neither.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // Layers, bottom up. A layer never imports one above it.
        .target(name: "SwiftletFormat", dependencies: ["CZstd"]),
        // C kernels that dispatch at run time to AVX2/F16C/AVX-512 or NEON/SDOT (no unsafe flags:
        // per-function targets).
        .target(name: "CSwiftletKernels"),
        .target(name: "SwiftletKernels", dependencies: ["CBLAS", "CSwiftletKernels"]),
        .target(name: "SwiftletModels", dependencies: ["SwiftletFormat", "SwiftletKernels"]),
        // Text: the tokenizer a language model carries (beside the families; format only below it).
        .target(name: "SwiftletText", dependencies: ["SwiftletFormat"]),
        .target(
            name: "Swiftlet", dependencies: ["SwiftletModels", "SwiftletFormat", "SwiftletKernels", "SwiftletText"]),
        .target(
            name: "SwiftletC", dependencies: ["Swiftlet", "CSwiftletABI"],
            exclude: ["exports.map"],
            linkerSettings: [.unsafeFlags(sharedLibraryFlags)]),

        // Tool side: checkpoint readers and converters (Foundation allowed here).
        .target(name: "SwiftletConvert", dependencies: ["SwiftletFormat"]),
        // PNG and JPEG decoding to RGB8 (libpng, libjpeg-turbo) for `swiftlet run --image`.
        .target(name: "CSwiftletImageIO", dependencies: ["CPNG", "CJPEG"]),
        .executableTarget(
            name: "swiftlet-cli",
            dependencies: [
                "Swiftlet", "SwiftletConvert", "SwiftletFormat", "SwiftletModels", "SwiftletKernels",
                "CSwiftletImageIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Kernel micro-benchmarks (Benchmarks/memoryformer/bench.py runs it); not in any product.
        .executableTarget(name: "swiftlet-kernel-bench", dependencies: ["SwiftletKernels"]),

        // The README's Swift snippet, built and run by `make test` (scripts/check-readme.sh keeps them equal).
        .executableTarget(name: "swiftlet-readme-example", dependencies: ["Swiftlet"], path: "Examples/readme-swift"),

        .testTarget(name: "SwiftletFormatTests", dependencies: ["SwiftletFormat", "SwiftletKernels"]),
        .testTarget(name: "SwiftletKernelsTests", dependencies: ["SwiftletKernels"]),
        .testTarget(name: "SwiftletConvertTests", dependencies: ["SwiftletConvert", "SwiftletFormat"]),
        .testTarget(name: "SwiftletImageIOTests", dependencies: ["CSwiftletImageIO"]),
        .testTarget(
            name: "SwiftletTextTests", dependencies: ["SwiftletText", "SwiftletConvert", "SwiftletFormat", "CZstd"]),
        .testTarget(
            name: "SwiftletTests",
            dependencies: ["Swiftlet", "SwiftletConvert", "SwiftletModels", "SwiftletFormat", "SwiftletKernels"]),
    ]
)
