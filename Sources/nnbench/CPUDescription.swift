import Foundation

/// The CPU a figure was measured on, for every benchmark record: model name and the SIMD
/// features that choose kernel paths (machines of one kind differ: Zen 3, Zen 4, Xeons).
enum CPUDescription {
    static let current: String = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        let lines = text.split(separator: "\n")
        func field(_ name: String) -> String? {
            lines.first { $0.hasPrefix(name) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let model = field("model name") ?? "unknown"
        let family = field("cpu family").map { "family \($0)" } ?? ""
        let number = field("model\t").map { "model \($0)" } ?? ""
        let flags = Set((field("flags") ?? "").split(separator: " ").map(String.init))
        let simd = ["avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile"].filter(flags.contains)
        return "\(model) (\([family, number].filter { !$0.isEmpty }.joined(separator: " "))), \(simd.joined(separator: " "))"
    }()
}
