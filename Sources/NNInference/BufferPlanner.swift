/// Assigns every value a place in one arena, reusing the space of values that are dead.
///
/// A value placed inside another (a concat operand) shares its root's buffer, so a root
/// lives from the first definition to the last use of any value inside it. A step's output
/// never shares space with its inputs: a buffer is freed only after the step that last
/// reads it.
struct BufferPlanner {
    /// Alignment of every buffer, in floats (64 bytes).
    static let alignmentFloats = 16

    let widths: [Int]
    let placements: [Int: (parent: Int, column: Int)]
    let maxRows: Int

    /// Root value and column offset of `value`.
    func root(of value: Int) -> (root: Int, column: Int) {
        var current = value
        var column = 0
        while let placement = placements[current] {
            column += placement.column
            current = placement.parent
        }
        return (current, column)
    }

    /// Locations of all values and the arena size in floats. `definitions[v]` is the step
    /// defining v (-1 for inputs; nil for a concat, which its operands define);
    /// `lastUses[v]` the last step reading it (or past the end for outputs).
    func plan(definitions: [Int?], lastUses: [Int?]) -> (locations: [ValueLocation?], arenaFloats: Int) {
        var start: [Int: Int] = [:], end: [Int: Int] = [:]
        for value in widths.indices {
            let owner = root(of: value).root
            if let defined = definitions[value] {
                start[owner] = min(start[owner] ?? .max, defined)
                end[owner] = max(end[owner] ?? .min, defined)
            }
            if let used = lastUses[value] { end[owner] = max(end[owner] ?? .min, used) }
        }
        var blocks: [Int: (offset: Int, size: Int)] = [:]
        var free: [(offset: Int, size: Int)] = []
        var arenaFloats = 0
        let roots = start.keys.sorted { (start[$0]!, $0) < (start[$1]!, $1) }
        var live: [Int] = []
        for owner in roots {
            let now = start[owner]!
            live.removeAll { other in
                guard end[other]! < now else { return false }
                free.append(blocks[other]!)
                return true
            }
            let size = Self.roundUp(widths[owner] * maxRows)
            if let best = free.indices.filter({ free[$0].size >= size }).min(by: { free[$0].size < free[$1].size }) {
                blocks[owner] = free.remove(at: best)
            } else {
                blocks[owner] = (arenaFloats, size)
                arenaFloats += size
            }
            live.append(owner)
        }
        let locations: [ValueLocation?] = widths.indices.map { value in
            let (owner, column) = root(of: value)
            guard blocks[owner] != nil else { return nil }
            return ValueLocation(offset: blocks[owner]!.offset + column, leadingDimension: widths[owner], width: widths[value])
        }
        return (locations, arenaFloats)
    }

    static func roundUp(_ floats: Int) -> Int {
        (floats + alignmentFloats - 1) / alignmentFloats * alignmentFloats
    }
}
