import Foundation
import NNFormat
#if canImport(Glibc)
import Glibc
#endif

/// Publishing into a model repository (layout: NNFormat's `RepositoryLayout`). A version
/// directory appears whole or not at all.
public struct ModelRepository: Sendable {
    public let layout: RepositoryLayout
    public var root: String { layout.root }

    public init(root: String) {
        layout = RepositoryLayout(root: root)
    }

    /// Version directories of `name` present, ascending.
    public func versions(of name: String) -> [Int] {
        layout.versionDirectories(of: name)
    }

    public func nextVersion(of name: String) -> Int {
        (versions(of: name).last ?? 0) + 1
    }

    public func path(name: String, version: Int) -> String {
        layout.modelFile(name, version: version)
    }

    /// Publishes `bytes` as `name` version `version`: the file is written and fsynced inside a
    /// hidden temporary directory next to the versions, checked by `verify`, and only then is
    /// the directory renamed to the version number (atomic on one file system). A crash at
    /// any point leaves at most a hidden `.tmp-*` directory, never a partial version.
    public func publish(_ bytes: [UInt8], name: String, version: Int,
                        verify: (String) throws -> Void) throws {
        guard !name.isEmpty, !name.hasPrefix("."), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ExportError.invalidName(name)
        }
        let modelDirectory = layout.modelDirectory(name)
        let final = "\(modelDirectory)/\(version)"
        guard !FileManager.default.fileExists(atPath: final) else { throw ExportError.versionExists(path: final) }
        do {
            try FileManager.default.createDirectory(atPath: modelDirectory, withIntermediateDirectories: true)
        } catch {
            throw ExportError.io(path: modelDirectory, detail: "cannot create: \(error.localizedDescription)")
        }
        let staging = "\(modelDirectory)/.tmp-\(version)-\(getpid())"
        try? FileManager.default.removeItem(atPath: staging)
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw ExportError.io(path: staging, detail: "cannot create: \(error.localizedDescription)")
        }
        do {
            let file = "\(staging)/\(RepositoryLayout.modelFileName)"
            do { try AtomicFile.write(bytes, to: file) } catch { throw ExportError.file(error) }
            try verify(file)
            guard rename(staging, final) == 0 else {
                throw ExportError.io(path: final, detail: "cannot publish: \(String(cString: strerror(errno)))")
            }
            AtomicFile.syncDirectory(modelDirectory)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }
}
