import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Whole-file reads and crash-safe writes.
public enum AtomicFile {
    /// Writes `bytes` to `path` so that readers see either the old file or the complete new
    /// one, never a prefix: a temporary file in the same directory (same file system, so
    /// rename is atomic), fsync, rename over `path`, fsync of the directory.
    public static func write(_ bytes: [UInt8], to path: String) throws(FormatError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporaryPrefix = ".\(url.lastPathComponent).tmp-"
        removeStaleTemporaries(in: directory, prefix: temporaryPrefix)
        let temporary = "\(directory)/\(temporaryPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io(source: path, detail: "cannot create \(temporary): \(errnoText())") }
        var failure: FormatError?
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = .io(source: path, detail: "write failed: \(errnoText())")
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = .io(source: path, detail: "fsync failed: \(errnoText())") }
        close(descriptor)
        if failure == nil, rename(temporary, path) != 0 { failure = .io(source: path, detail: "rename failed: \(errnoText())") }
        if let failure {
            unlink(temporary)
            throw failure
        }
        syncDirectory(directory)
    }

    /// Whether a process with this id exists (a process of another user counts as alive).
    public static func processIsAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    /// Removes the temporaries of earlier writes of the same file whose process is gone (killed
    /// between creating and renaming): `<prefix><pid>-<random>`.
    private static func removeStaleTemporaries(in directory: String, prefix: String) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(prefix) {
            guard let owner = entry.dropFirst(prefix.count).split(separator: "-").first.flatMap({ pid_t($0) }),
                  !processIsAlive(owner) else { continue }
            unlink("\(directory)/\(entry)")
        }
    }

    /// Makes a rename or creation inside `directory` durable.
    public static func syncDirectory(_ directory: String) {
        let descriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }

    /// The whole file, refusing anything larger than `limit` bytes before reading it.
    public static func read(_ path: String, limit: UInt64) throws(FormatError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .io(source: path, detail: "cannot open: \(errnoText())") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .io(source: path, detail: "cannot stat: \(errnoText())") }
        guard status.st_mode & S_IFMT == S_IFREG else { throw .io(source: path, detail: "not a regular file") }
        let size = UInt64(status.st_size)
        guard size <= limit else { throw .tooLarge(source: path, what: "file", size: size, limit: limit) }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var offset = 0
        var readError: FormatError?
        bytes.withUnsafeMutableBytes { buffer in
            while offset < buffer.count {
                let count = Glibc.read(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0, errno == EINTR { continue }
                if count < 0 {
                    readError = .io(source: path, detail: "read failed: \(errnoText())")
                    return
                }
                if count == 0 { break }
                offset += count
            }
        }
        if let readError { throw readError }
        return Array(bytes.prefix(offset))
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
