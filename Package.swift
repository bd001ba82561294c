// swift-tools-version:6.0
import PackageDescription

/// nnserve: train small neural networks on the CPU, export them, serve them.
/// Module map and dependency direction: docs/ARCHITECTURE.md. Each target declares every
/// module it imports (ops/check-imports.sh checks it).
let strictSwift: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "nnserve",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "NNCore", targets: ["NNCore"]),
        .library(name: "NNFormat", targets: ["NNFormat"]),
        .library(name: "NNInference", targets: ["NNInference"]),
        .library(name: "NNTrain", targets: ["NNTrain"]),
        .library(name: "NNTune", targets: ["NNTune"]),
        .library(name: "NNExport", targets: ["NNExport"]),
        .library(name: "NNOnnx", targets: ["NNOnnx"]),
        .library(name: "NNServer", targets: ["NNServer"]),
        .library(name: "NNClient", targets: ["NNClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(
            name: "CNNKernels",
            // Kernels are optimized even in debug builds: tests run them on real shapes. AVX2
            // code is enabled per function (target attributes), never with -march=native.
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        // glibc allocator tuning for the training and serving executables (not a kernel).
        .target(name: "CAllocator"),
        .target(name: "NNCore", swiftSettings: strictSwift),
        .target(
            name: "NNInference",
            dependencies: ["NNCore", "NNFormat", "CNNKernels"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNFormat",
            dependencies: [
                "NNCore", "CZstd",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Generated/README.md"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNTestSupport",
            dependencies: ["NNCore"],
            path: "Tests/NNTestSupport",
            // The reference executor is plain loops in Double; optimized, it checks real shapes quickly.
            swiftSettings: strictSwift + [.unsafeFlags(["-O"])]
        ),
        .testTarget(name: "NNCoreTests", dependencies: ["NNCore", "NNTestSupport"], swiftSettings: strictSwift),
        .target(
            name: "NNTrain",
            dependencies: ["NNCore", "NNFormat", "NNInference", "CAllocator"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNTrainTests",
            dependencies: ["NNTrain", "NNCore", "NNFormat", "NNInference", "NNTestSupport"],
            swiftSettings: strictSwift
        ),
        // The KServe v2 / Triton gRPC messages, generated (ops/gen-proto.sh).
        .target(
            name: "NNKServe",
            dependencies: [
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["README.md"],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Hyperparameter search and population based training; studies live in SQLite (GRDB).
        .target(
            name: "NNTune",
            dependencies: ["NNTrain", "NNCore", "NNFormat", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNTuneTests",
            dependencies: ["NNTune", "NNTrain", "NNCore", "NNFormat", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNOnnx",
            dependencies: ["NNCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNOnnxTests",
            dependencies: ["NNOnnx", "NNCore", "NNExport", "NNInference", "NNFormat", "NNTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Fixtures"],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNExport",
            dependencies: ["NNCore", "NNFormat", "NNInference", "NNOnnx"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNExportTests",
            dependencies: ["NNExport", "NNCore", "NNFormat", "NNInference", "NNTestSupport"],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "nnexport",
            dependencies: [
                "NNExport", "NNFormat", "NNOnnx", "NNTrain", "NNCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNWire",
            dependencies: [
                "NNFormat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNWireTests",
            dependencies: ["NNWire", "NNFormat", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNServer",
            dependencies: [
                "NNCore", "NNFormat", "NNInference", "NNExport", "NNWire", "CAllocator", "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "NNKServe",
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSwift
        ),
        .target(
            name: "NNClient",
            dependencies: [
                "NNCore", "NNFormat", "NNWire", "NNKServe",
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "nnserve",
            dependencies: [
                "NNServer", "NNFormat", "NNCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "nnclient",
            dependencies: [
                "NNClient", "NNCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNServerTests",
            dependencies: ["NNServer", "NNClient", "NNWire", "NNCore", "NNFormat", "NNInference", "NNTrain", "NNExport", "NNKServe", "NNTestSupport",
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                           .product(name: "NIOHPACK", package: "swift-nio-http2"),
                           .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "nntrain",
            dependencies: [
                "NNTrain", "NNTune", "NNFormat", "NNInference", "NNCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "nnbench",
            dependencies: [
                "NNCore", "NNFormat", "NNInference", "NNTrain", "NNExport", "NNOnnx", "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSwift
        ),
        .target(name: "CMallocCounter", path: "Tests/CMallocCounter"),
        .testTarget(
            name: "NNInferenceTests",
            dependencies: ["NNInference", "NNCore", "NNFormat", "NNTestSupport", "CNNKernels", "CMallocCounter"],
            swiftSettings: strictSwift
        ),
        .testTarget(
            name: "NNFormatTests",
            dependencies: ["NNFormat", "NNCore", "NNTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSwift
        ),
    ],
    swiftLanguageModes: [.v6]
)

// Fuzz targets (Fuzz/, libFuzzer entry points, no main): only in the package when `make fuzz`
// builds them with --sanitize=fuzzer --sanitize=address, so ordinary builds never see them.
if Context.environment["NNSERVE_FUZZ"] != nil {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("fuzz-wire", ["NNFormat", "NNWire", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                       .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]),
        ("fuzz-http", ["NNServer", "NNFormat", "NNInference", "NNCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")]),
        ("fuzz-grpc", ["NNServer", "NNFormat", "NNInference", "NNCore", "NNKServe", .product(name: "NIOCore", package: "swift-nio"),
                       .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOHTTP2", package: "swift-nio-http2")]),
        ("fuzz-model", ["NNFormat", "NNInference"]),
        ("fuzz-checkpoint", ["NNFormat"]),
        ("fuzz-config", ["NNFormat", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        ("fuzz-modeljson", ["NNTrain", "NNCore"]),
        ("fuzz-csv", ["NNTrain", "NNCore"]),
        ("fuzz-onnx", ["NNOnnx", "NNCore", "NNInference"]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(name: target.name, dependencies: target.dependencies, path: "Fuzz/Sources/\(target.name)",
                                                 swiftSettings: strictSwift + [.unsafeFlags(["-parse-as-library"])]))
    }
}
