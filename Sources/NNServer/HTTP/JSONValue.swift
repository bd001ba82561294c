/// Any JSON value (`JSONParser` reads them): KServe bodies vary in type where it matters —
/// tensor `data` (numbers, booleans or strings, flat or nested) and `parameters` (string,
/// number or boolean).
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// An array whose elements are all numbers, as the parser keeps tensor data: one `Double`
    /// per element rather than a `JSONValue`. Equal to the `.array` of the same `.number`s.
    case numbers([Double])
    case object([String: JSONValue])

    /// The name of this value's JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array, .numbers: "an array"
        case .object: "an object"
        }
    }

    /// The elements of either form of array; nil for any other value.
    var elements: [JSONValue]? {
        switch self {
        case .array(let elements): elements
        case .numbers(let numbers): numbers.map(JSONValue.number)
        default: nil
        }
    }

    var isArray: Bool {
        switch self {
        case .array, .numbers: true
        default: false
        }
    }
}

extension JSONValue: Equatable {
    static func == (left: JSONValue, right: JSONValue) -> Bool {
        switch (left, right) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        case (.numbers(let a), .numbers(let b)): a == b
        case (.array, .array), (.array, .numbers), (.numbers, .array): left.elements == right.elements
        default: false
        }
    }
}
