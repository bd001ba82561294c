import Foundation

/// Where a study keeps its members' checkpoints, in `directory`: `g<G>/m<i>.ckpt` is member
/// i's state at the start of generation G (written before generation G-1 is committed),
/// `g<G>/m<i>.progress.ckpt` its checkpoint after each epoch of generation G. A study killed
/// at any point continues from them.
struct StudyFiles: Sendable {
    let directory: String

    func start(generation: Int, member: Int) -> String { "\(directory)/g\(generation)/m\(member).ckpt" }

    func progress(generation: Int, member: Int) -> String { "\(directory)/g\(generation)/m\(member).progress.ckpt" }

    func createGeneration(_ generation: Int) throws {
        try FileManager.default.createDirectory(atPath: "\(directory)/g\(generation)", withIntermediateDirectories: true)
    }

    /// Deletes the files of generations before `generation` (committed and no longer read).
    func removeGenerations(before generation: Int) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries where entry.hasPrefix("g") {
            if let number = Int(entry.dropFirst()), number < generation {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
            }
        }
    }
}
