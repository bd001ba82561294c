import Foundation

/// `$inference_request` of the Open Inference Protocol, as decoded from JSON.
struct InferenceRequestBody: Decodable {
    struct Input: Decodable {
        var name: String
        var shape: [Int64]
        var datatype: String
        var parameters: [String: JSONValue]?
        var data: JSONValue?
    }

    struct Output: Decodable {
        var name: String
        var parameters: [String: JSONValue]?
    }

    var id: String?
    var parameters: [String: JSONValue]?
    var inputs: [Input]
    var outputs: [Output]?

    /// Decodes a JSON body; errors name the field at fault ("inputs[0].shape is missing").
    static func decode(_ json: some Collection<UInt8>) throws(ServingError) -> InferenceRequestBody {
        do {
            return try JSONDecoder().decode(InferenceRequestBody.self, from: Data(json))
        } catch let error as DecodingError {
            throw ServingError(.invalidArgument, error.fieldMessage)
        } catch {
            throw ServingError(.invalidArgument, "request body: \(error)")
        }
    }
}

extension DecodingError {
    /// "inputs[0].shape: expected an array of integers" rather than Foundation's debug dump.
    var fieldMessage: String {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce("") { path, key in
                if let index = key.intValue { return "\(path)[\(index)]" }
                return path.isEmpty ? key.stringValue : "\(path).\(key.stringValue)"
            }
        }
        switch self {
        case .keyNotFound(let key, let context):
            let parent = path(context.codingPath)
            return "field '\(parent.isEmpty ? key.stringValue : "\(parent).\(key.stringValue)")' is missing"
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' has the wrong type: expected \(Self.describe(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                return "request body is not valid JSON" + (detail.map { ": \($0)" } ?? "")
            }
            return "field '\(path(context.codingPath))' is invalid: \(context.debugDescription)"
        @unknown default:
            return "request body: \(self)"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int64.Type, is Int.Type: "an integer"
        case is [Int64].Type: "an array of integers"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)".hasPrefix("Array") ? "an array" : "\(type)".hasPrefix("Dictionary") ? "an object" : "\(type)"
        }
    }
}
