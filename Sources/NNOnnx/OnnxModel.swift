import Foundation
import SwiftProtobuf

/// An ONNX model as the importer reads it: the protobuf message, checked for what every later
/// step relies on (IR version, opsets, a graph), with its opset per domain.
struct OnnxModel {
    /// IR versions read: 6 (ONNX 1.6, opset 11's) up to what the proto nnserve was generated
    /// from defines (ops/update-onnx-proto.sh).
    static let irVersions: ClosedRange<Int64> = 6...Int64(Onnx_Version.irVersion.rawValue)
    /// The default domain's opsets: 11 (the oldest torch and skl2onnx still write by default)
    /// through the newest the generating onnx package knew.
    static let opsets: ClosedRange<Int> = 11...28
    static let mlOpsets: ClosedRange<Int> = 1...5
    /// Files above this are not MLPs; refusing them early bounds what a hostile file costs.
    static let maximumBytes = 1 << 31 - 1
    static let maximumNodes = 10_000

    let proto: Onnx_ModelProto
    /// Opset version per domain ("" for ai.onnx).
    let opsetByDomain: [String: Int]

    init(bytes: Data) throws(OnnxError) {
        guard bytes.count <= Self.maximumBytes else { throw .unsupportedModel("the file has \(bytes.count) bytes; ONNX files end at 2 GiB") }
        do {
            proto = try Onnx_ModelProto(serializedBytes: bytes)
        } catch {
            throw .unreadable("\(error)")
        }
        guard proto.hasGraph else { throw .unreadable("the model has no graph") }
        guard Self.irVersions.contains(proto.irVersion) else {
            throw .unsupportedModel("IR version \(proto.irVersion) is outside the \(Self.irVersions.lowerBound)-\(Self.irVersions.upperBound) nnserve reads; re-export with opset 11 or newer")
        }
        var opsets: [String: Int] = [:]
        for entry in proto.opsetImport {
            let domain = entry.domain == "ai.onnx" ? "" : entry.domain
            opsets[domain] = Int(clamping: entry.version)
        }
        guard let opset = opsets[""] else { throw .unsupportedModel("the model imports no ai.onnx opset") }
        guard Self.opsets.contains(opset) else {
            throw .unsupportedModel("opset \(opset) is outside the \(Self.opsets.lowerBound)-\(Self.opsets.upperBound) nnserve reads; re-export with opset_version=17")
        }
        if let ml = opsets["ai.onnx.ml"], !Self.mlOpsets.contains(ml) {
            throw .unsupportedModel("ai.onnx.ml opset \(ml) is outside the \(Self.mlOpsets.lowerBound)-\(Self.mlOpsets.upperBound) nnserve reads")
        }
        guard proto.graph.node.count <= Self.maximumNodes else {
            throw .unsupportedModel("the graph has \(proto.graph.node.count) nodes; an MLP has far fewer than \(Self.maximumNodes)")
        }
        opsetByDomain = opsets
    }

    var graph: Onnx_GraphProto { proto.graph }

    /// The opset a node's op type is read under, or nil for a domain the model does not import.
    func opset(of node: Onnx_NodeProto) -> Int? {
        opsetByDomain[node.domain == "ai.onnx" ? "" : node.domain]
    }

    /// The model's metadata as a dictionary (later keys win).
    var metadata: [String: String] {
        Dictionary(proto.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

extension Onnx_NodeProto {
    /// The node's name for messages: its own, or its first output's.
    var displayName: String {
        !name.isEmpty ? name : (output.first ?? opType)
    }

    func attribute(_ name: String) -> Onnx_AttributeProto? {
        attribute.first { $0.name == name }
    }

    func int(_ name: String, default value: Int) -> Int {
        attribute(name).map { Int(clamping: $0.i) } ?? value
    }

    func float(_ name: String, default value: Float) -> Float {
        attribute(name)?.f ?? value
    }

    func floats(_ name: String) -> [Float]? {
        attribute(name).map(\.floats)
    }

    func ints(_ name: String) -> [Int]? {
        attribute(name).map { $0.ints.map { Int(clamping: $0) } }
    }

    func string(_ name: String) -> String? {
        attribute(name).map { String(decoding: $0.s, as: UTF8.self) }
    }

    /// Inputs that are present: ONNX marks a skipped optional input with an empty name.
    var presentInputs: [String] { input.filter { !$0.isEmpty } }
}
