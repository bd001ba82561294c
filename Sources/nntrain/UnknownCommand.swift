import ArgumentParser
import Foundation
import NNCore

/// `nntrain train --model m.json` used to say "Unknown option '--model'": the parser took
/// "train" for an argument of the root command. A first word that is no command is named,
/// with the command that was meant.
enum UnknownCommand {
    /// Words users bring from other tools, and the command that does it here.
    static let meant = ["train": "fit", "find-lr": "lr-find", "lr_find": "lr-find", "lrfind": "lr-find", "infer": "predict",
                        "eval": "evaluate", "test": "evaluate", "continue": "resume", "search": "tune", "inspect": "summary"]

    /// The message for `arguments` (without the program's name), or nil when they start with
    /// a command or an option.
    static func message(_ arguments: [String], commands: [any ParsableCommand.Type]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-") else { return nil }
        let names = commands.flatMap { [$0._commandName] + $0.configuration.aliases } + ["help"]
        guard !names.contains(first) else { return nil }
        let suggestion = meant[first] ?? Spelling.nearest(to: first, in: names)
        return "'\(first)' is not an nntrain command (did you mean `nntrain \(suggestion)`?); the commands are \(names.joined(separator: ", "))"
    }
}

extension NNTrainCommand {
    static func main() {
        if let message = UnknownCommand.message(Array(CommandLine.arguments.dropFirst()), commands: configuration.subcommands) {
            FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
            Foundation.exit(64)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}
