/// `$inference_request` of the Open Inference Protocol, read from a parsed JSON body.
/// Every refusal names the field by its path ("field 'inputs[0].shape' is missing").
struct InferenceRequestBody {
    struct Input {
        var name: String
        var shape: [Int64]
        var datatype: String
        var parameters: [String: JSONValue]?
        var data: JSONValue?
    }

    struct Output {
        var name: String
        var parameters: [String: JSONValue]?
    }

    var id: String?
    var parameters: [String: JSONValue]?
    var inputs: [Input]
    var outputs: [Output]?

    static func decode(_ json: some Collection<UInt8>) throws(ServingError) -> InferenceRequestBody {
        let value: JSONValue
        do {
            value = try JSONParser.parse(json)
        } catch {
            throw ServingError(.invalidArgument, "request body is not valid JSON: \(error.description)")
        }
        let body = try JSONFields(value, path: "")
        return InferenceRequestBody(
            id: try body.optional("id", "a string", \.stringValue),
            parameters: try body.optional("parameters", "an object", \.objectValue),
            inputs: try body.required("inputs", "an array", \.arrayValue).enumerated().map { (index, element) throws(ServingError) in
                let input = try JSONFields(element, path: "inputs[\(index)]")
                return Input(name: try input.required("name", "a string", \.stringValue),
                             shape: try input.required("shape", "an array of integers", \.integerArrayValue),
                             datatype: try input.required("datatype", "a string", \.stringValue),
                             parameters: try input.optional("parameters", "an object", \.objectValue),
                             data: try input.optional("data", "an array", { $0 }))
            },
            outputs: try body.optional("outputs", "an array", \.arrayValue)?.enumerated().map { (index, element) throws(ServingError) in
                let output = try JSONFields(element, path: "outputs[\(index)]")
                return Output(name: try output.required("name", "a string", \.stringValue),
                              parameters: try output.optional("parameters", "an object", \.objectValue))
            })
    }
}

/// The members of a JSON object at `path`, read with the field named in every error.
struct JSONFields {
    let members: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String) throws(ServingError) {
        guard case .object(let members) = value else {
            throw ServingError(.invalidArgument, path.isEmpty ? "request body is \(value.typeName), not a JSON object"
                                                              : "field '\(path)' is \(value.typeName), not an object")
        }
        self.members = members
        self.path = path
    }

    private func field(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    func required<T>(_ key: String, _ expected: String, _ extract: (JSONValue) -> T?) throws(ServingError) -> T {
        guard let value = members[key] else { throw ServingError(.invalidArgument, "field '\(field(key))' is missing") }
        guard let typed = extract(value) else {
            throw ServingError(.invalidArgument, "field '\(field(key))' has the wrong type: expected \(expected), got \(value.typeName)")
        }
        return typed
    }

    func optional<T>(_ key: String, _ expected: String, _ extract: (JSONValue) -> T?) throws(ServingError) -> T? {
        guard let value = members[key], value != .null else { return nil }
        return try required(key, expected, extract)
    }
}

extension JSONValue {
    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    var arrayValue: [JSONValue]? { elements }

    /// Whole numbers only (a shape's dimensions).
    var integerArrayValue: [Int64]? {
        if case .array(let elements) = self, elements.isEmpty { return [] }
        guard case .numbers(let numbers) = self else { return nil }
        var integers: [Int64] = []
        integers.reserveCapacity(numbers.count)
        for number in numbers {
            guard number.rounded() == number, abs(number) < 9.0e15 else { return nil }
            integers.append(Int64(number))
        }
        return integers
    }
}
