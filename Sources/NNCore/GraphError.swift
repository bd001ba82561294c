/// Why a graph is not a valid model; every case names the node or input at fault.
public enum GraphError: Error, Equatable, CustomStringConvertible {
    case emptyName(what: String)
    case duplicateName(String)
    case unknownReference(node: String, reference: String)
    case unknownOutputNode(output: String, node: String)
    case noOutputs
    case cycle(nodes: [String])
    case wrongInputCount(node: String, kind: String, expected: String, got: Int)
    case widthMismatch(node: String, detail: String)
    case invalidParameter(node: String, detail: String)
    case invalidInput(input: String, detail: String)

    public var description: String {
        switch self {
        case .emptyName(let what):
            "\(what) has an empty name"
        case .duplicateName(let name):
            "name '\(name)' is used by more than one input or node"
        case .unknownReference(let node, let reference):
            "node '\(node)' reads '\(reference)', which is neither a graph input nor a node"
        case .unknownOutputNode(let output, let node):
            "output '\(output)' refers to node '\(node)', which does not exist"
        case .noOutputs:
            "graph has no outputs"
        case .cycle(let nodes):
            "nodes \(nodes.map { "'\($0)'" }.joined(separator: ", ")) depend on each other in a cycle"
        case .wrongInputCount(let node, let kind, let expected, let got):
            "node '\(node)' (\(kind)) takes \(expected) input(s), got \(got)"
        case .widthMismatch(let node, let detail):
            "node '\(node)': \(detail)"
        case .invalidParameter(let node, let detail):
            "node '\(node)': \(detail)"
        case .invalidInput(let input, let detail):
            "input '\(input)': \(detail)"
        }
    }
}
