/// Fields written back as CSV, by the same RFC 4180 rules `CSVReader` reads.
public enum CSVWriter {
    /// `text` as one field: quoted when it holds a comma, a quote or a line break (quotes
    /// doubled), as is otherwise.
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingAll("\"", with: "\"\"") + "\""
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
