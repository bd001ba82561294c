import Foundation

/// Why a file cannot be read, in the words a user needs ("no such file", not "cannot read
/// it as UTF-8 text"): every command that opens a user's file names the reason with it.
public enum FileProblem {
    /// nil when `path` is a readable regular file.
    public static func reason(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            let directory = (path as NSString).deletingLastPathComponent
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) { return "no such file (no directory '\(directory)')" }
            return "no such file"
        }
        if isDirectory.boolValue { return "is a directory, not a file" }
        if !FileManager.default.isReadableFile(atPath: path) { return "not readable (permission denied)" }
        return nil
    }

    /// The file's bytes, or the reason they cannot be read.
    public static func contents(_ path: String) -> Result<Data, Unreadable> {
        if let reason = reason(path) { return .failure(Unreadable(path: path, reason: reason)) }
        guard let data = FileManager.default.contents(atPath: path) else { return .failure(Unreadable(path: path, reason: "cannot be read")) }
        return .success(data)
    }

    public struct Unreadable: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }
}
