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

    /// Publishes `bytes` as a version of `name` and returns it: the file is written and
    /// fsynced inside a hidden staging directory next to the versions, checked by `verify`, and
    /// only then is the directory renamed to the version number (atomic on one file system). A
    /// crash at any point leaves at most a hidden `.tmp-*` directory, never a partial version;
    /// such leftovers of dead processes are removed by the next publish.
    ///
    /// With `version` nil the next free version is claimed, and claimed again if another
    /// exporter published it meanwhile (the rename fails on a non-empty directory), so
    /// concurrent exports of one model each get their own version. An explicit `version` that
    /// exists is an error.
    @discardableResult
    public func publish(_ bytes: [UInt8], name: String, version: Int? = nil, fileName: String = RepositoryLayout.modelFileName,
                        verify: (String) throws -> Void) throws -> Int {
        guard !name.isEmpty, !name.hasPrefix("."), name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw ExportError.invalidName(name)
        }
        let modelDirectory = layout.modelDirectory(name)
        if let version, FileManager.default.fileExists(atPath: "\(modelDirectory)/\(version)") {
            throw ExportError.versionExists(path: "\(modelDirectory)/\(version)")
        }
        do {
            try FileManager.default.createDirectory(atPath: modelDirectory, withIntermediateDirectories: true)
        } catch {
            throw ExportError.io(path: modelDirectory, detail: "cannot create: \(error.localizedDescription)")
        }
        Self.removeStaleStaging(in: modelDirectory)
        let staging = "\(modelDirectory)/\(Self.stagingPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
        } catch {
            throw ExportError.io(path: staging, detail: "cannot create: \(error.localizedDescription)")
        }
        do {
            let file = "\(staging)/\(fileName)"
            do { try AtomicFile.write(bytes, to: file) } catch { throw ExportError.file(error) }
            try verify(file)
            var claimed = version ?? nextVersion(of: name)
            var attempts = 0
            while rename(staging, "\(modelDirectory)/\(claimed)") != 0 {
                let failure = errno
                attempts += 1
                guard version == nil, failure == ENOTEMPTY || failure == EEXIST, attempts < 1000 else {
                    if failure == ENOTEMPTY || failure == EEXIST { throw ExportError.versionExists(path: "\(modelDirectory)/\(claimed)") }
                    throw ExportError.io(path: "\(modelDirectory)/\(claimed)", detail: "cannot publish: \(String(cString: strerror(failure)))")
                }
                claimed = max(claimed + 1, nextVersion(of: name))
            }
            AtomicFile.syncDirectory(modelDirectory)
            return claimed
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
    }

    /// Staging directories are `.tmp-<pid>-<random>`: the pid says whose they are.
    static let stagingPrefix = ".tmp-"

    /// Removes staging directories whose process is gone (killed mid-export): nothing else
    /// would, and the server ignores them, so they would only accumulate.
    static func removeStaleStaging(in directory: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(stagingPrefix) {
            let owner = entry.dropFirst(stagingPrefix.count).split(separator: "-").first.flatMap { pid_t($0) }
            guard let owner, !AtomicFile.processIsAlive(owner) else { continue }
            try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
        }
    }
}
