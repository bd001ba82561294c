import Foundation

/// Where the executables built with the running tests live, so a test starts the `nnserve` of
/// its own build: a sanitizer build (`make test-tsan`, scratch path `.build-tsan`) must run the
/// sanitized server, not whatever `.build/debug` holds.
public enum BuildProducts {
    /// The directory of the test bundle (`<scratch>/<triple>/debug/nnservePackageTests.xctest`),
    /// which is also where SwiftPM puts the package's executables.
    public static let directory: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        let beside = bundle.deletingLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: beside.appendingPathComponent("nnserve").path) { return beside }
        // Run some other way (an IDE, a copied bundle): the default debug build of the package.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build/debug").standardizedFileURL
    }()

    /// The path of the executable product `name` (nnserve, nnexport, nntrain, nnclient).
    public static func executable(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }
}
