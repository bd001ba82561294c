import Foundation

/// The process's resident memory as Linux reports it in /proc/self/status: measured, not
/// estimated, so it includes the allocator's slack and everything a budget has to cover.
public enum ProcessMemory {
    /// Resident set size now, in bytes (nil where /proc is missing).
    public static var residentBytes: Int? { statusField("VmRSS") }

    /// Resident set size of another process now, in bytes (nil where it or /proc is missing).
    public static func residentBytes(ofProcess pid: Int32) -> Int? { statusField("VmRSS", of: "/proc/\(pid)/status") }

    /// The largest resident set size since the process started or since the last
    /// `resetPeak()`, in bytes.
    public static var peakResidentBytes: Int? { statusField("VmHWM") }

    /// Starts a new peak at the current size (writing 5 to clear_refs, Linux 4.0+); false
    /// where that is not allowed, and the peak then stays the process's lifetime peak.
    @discardableResult
    public static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// "512MB", "2 GiB", "1e9": bytes with an optional K/M/G (powers of 1000) or
    /// KiB/MiB/GiB (powers of 1024) unit; nil unless positive and well formed.
    public static func bytes(in text: String) -> Int? {
        let text = text.trimmingCharacters(in: .whitespaces)
        let number = text.prefix { $0.isNumber || $0 == "." || $0 == "e" }
        guard let value = Double(number), value > 0, value.isFinite else { return nil }
        let units: [String: Double] = ["": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9,
                                       "KIB": 1024, "MIB": 1_048_576, "GIB": 1_073_741_824]
        guard let unit = units[text.dropFirst(number.count).trimmingCharacters(in: .whitespaces).uppercased()],
              value * unit < Double(Int.max) else { return nil }
        return Int(value * unit)
    }

    /// "31.4 MiB"
    public static func text(_ bytes: Int) -> String {
        bytes >= 1 << 30 ? String(format: "%.2f GiB", Double(bytes) / Double(1 << 30))
            : bytes >= 1 << 20 ? String(format: "%.1f MiB", Double(bytes) / Double(1 << 20))
            : String(format: "%.1f KiB", Double(bytes) / 1024)
    }

    private static func statusField(_ name: String, of path: String = "/proc/self/status") -> Int? {
        guard let status = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            // "VmHWM:	  123456 kB"
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
            return kilobytes * 1024
        }
        return nil
    }
}
