/// Any JSON value (`JSONParser` reads them): KServe bodies vary in type where it matters —
/// tensor `data` (numbers, booleans or strings, flat or nested) and `parameters` (string,
/// number or boolean).
enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The name of this value's JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
