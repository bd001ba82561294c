import Foundation

/// Where a model repository keeps its files: the one definition that nnexport writes and
/// nnserve reads.
///
/// - `.repository`: `<root>/<name>/<version>/model.nnm`, with an optional
///   `<root>/<name>/config.pbtxt` (Triton's layout).
/// - `.singleModel(name)`: the directory holds one model, as KServe's storage initializer lays
///   it out in `/mnt/models`: `<root>/<version>/model.nnm` (+ `<root>/config.pbtxt`), or just
///   `<root>/model.nnm`, served as version 1.
///
/// Versions are positive integers written without leading zeros or signs ("7", not "07");
/// hidden entries (`.tmp-*` staging directories) are never models or versions.
public struct RepositoryLayout: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case repository
        case singleModel(name: String)
    }

    public static let modelFileName = "model.nnm"
    /// An ONNX model in a version directory (Triton's layout), converted when it is loaded;
    /// a `model.nnm` beside it wins.
    public static let onnxFileName = "model.onnx"
    public static let configFileName = "config.pbtxt"

    public let root: String
    public let kind: Kind

    public init(root: String, kind: Kind = .repository) {
        self.root = root
        self.kind = kind
    }

    /// The version a directory entry names, or nil.
    public static func version(named entry: String) -> Int? {
        guard let version = Int(entry), version > 0, String(version) == entry else { return nil }
        return version
    }

    /// The models present, sorted: directories under the root (or the one model's name).
    public func modelNames() -> [String] {
        switch kind {
        case .singleModel(let name):
            return [name]
        case .repository:
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
            return entries.filter { !$0.hasPrefix(".") && Self.isDirectory("\(root)/\($0)") }.sorted()
        }
    }

    /// The directory holding a model's versions and its config.
    public func modelDirectory(_ name: String) -> String {
        switch kind {
        case .singleModel: root
        case .repository: "\(root)/\(name)"
        }
    }

    public func configFile(_ name: String) -> String {
        "\(modelDirectory(name))/\(Self.configFileName)"
    }

    /// Version directories of a model, whether or not they hold a model file yet, ascending.
    public func versionDirectories(of name: String) -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: modelDirectory(name))) ?? []
        return entries.compactMap(Self.version(named:)).sorted()
    }

    /// Versions that hold a model file, ascending (a single model's lone `model.nnm` is 1).
    public func versions(of name: String) -> [Int] {
        let versions = versionDirectories(of: name).filter { FileManager.default.fileExists(atPath: modelFile(name, version: $0)) }
        // A single model's lone `model.nnm` or `model.onnx` is version 1.
        if versions.isEmpty, case .singleModel = kind,
           [Self.modelFileName, Self.onnxFileName].contains(where: { FileManager.default.fileExists(atPath: "\(root)/\($0)") }) {
            return [1]
        }
        return versions
    }

    /// The file serving a version: its `model.nnm`, else its `model.onnx`; the `.nnm` path when
    /// neither exists yet.
    public func modelFile(_ name: String, version: Int) -> String {
        // Model files first, in the places they always had; then ONNX files in the same order.
        let directory = "\(modelDirectory(name))/\(version)"
        let lone = { () -> Bool in if case .singleModel = self.kind { version == 1 } else { false } }()
        let places = lone ? [directory, root] : [directory]
        let candidates = places.map { "\($0)/\(Self.modelFileName)" } + places.map { "\($0)/\(Self.onnxFileName)" }
        return candidates.first { FileManager.default.fileExists(atPath: $0) } ?? places.last! + "/\(Self.modelFileName)"
    }

    /// Whether a version's file is an ONNX model (converted at load).
    public static func isOnnx(_ path: String) -> Bool {
        path.hasSuffix(".onnx")
    }

    /// A path inside the repository as clients may see it: relative to the root.
    public func relative(_ message: String) -> String {
        message.replacingOccurrences(of: root.hasSuffix("/") ? root : root + "/", with: "")
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
