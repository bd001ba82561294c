// swift-tools-version:6.0
import PackageDescription

/// nnserve: train small neural networks on the CPU, export them, serve them.
/// Module map and dependency direction: docs/ARCHITECTURE.md.
let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "nnserve",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NNCore", targets: ["NNCore"]),
        .library(name: "NNFormat", targets: ["NNFormat"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(name: "NNCore", swiftSettings: strictSwift),
        .target(
            name: "NNFormat",
            dependencies: [
                "NNCore", "CZstd",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Generated/README.md"],
            swiftSettings: strictSwift
        ),
        .target(name: "NNTestSupport", dependencies: ["NNCore"], path: "Tests/NNTestSupport", swiftSettings: strictSwift),
        .testTarget(name: "NNCoreTests", dependencies: ["NNCore", "NNTestSupport"], swiftSettings: strictSwift),
        .testTarget(
            name: "NNFormatTests",
            dependencies: ["NNFormat", "NNCore", "NNTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)
