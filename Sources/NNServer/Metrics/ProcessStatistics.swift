import Foundation

/// The standard process_* figures, read from /proc at scrape time (Linux; zero elsewhere).
struct ProcessStatistics {
    var residentBytes: Double = 0
    var virtualBytes: Double = 0
    var cpuSeconds: Double = 0
    var openFileDescriptors: Double = 0
    var startTimeSeconds: Double = 0

    static func read() -> ProcessStatistics {
        var statistics = ProcessStatistics()
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        // /proc/self/statm: size resident shared text lib data dt (pages).
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if fields.count >= 2 {
                statistics.virtualBytes = fields[0] * pageSize
                statistics.residentBytes = fields[1] * pageSize
            }
        }
        // /proc/self/stat: the command name may hold spaces, so count fields after its ')'.
        // Fields 14, 15 are utime, stime and 22 is starttime, in clock ticks since boot.
        if let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // fields[0] is field 3 (state).
            func field(_ number: Int) -> Double { Double(fields[number - 3]) ?? 0 }
            if fields.count > 19 {
                statistics.cpuSeconds = (field(14) + field(15)) / ticks
                statistics.startTimeSeconds = bootTime() + field(22) / ticks
            }
        }
        statistics.openFileDescriptors = Double(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count)
        return statistics
    }

    private static func bootTime() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }
}
