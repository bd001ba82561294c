import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a study's member files, held while the study is open: a second runner
/// would rewrite and delete them under the first. Released when the lock is.
final class StudyLock: Sendable {
    private let descriptor: Int32

    init(directory: String) throws(TuneError) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw .database(path: directory, detail: "cannot create the member directory: \(error.localizedDescription)")
        }
        let descriptor = open("\(directory)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .database(path: directory, detail: "cannot open its lock file: \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .database(path: directory, detail: "another nntrain tune is running this study")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }
}
