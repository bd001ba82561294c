import CNNKernels
import NNCore

/// A Dense layer's weights in the layout its kernel reads, for one precision: fp32 panels
/// (`dense`), bf16 pair panels (`dense_bf16`) or int8 quad panels with per-column scales and
/// sums (`dense_int8`, quantized here from the layer's final fp32 weights by the same rule as
/// the model file: `Int8Quantization`). Built once per plan; immutable.
final class DensePanels: Sendable {
    let precision: DensePrecision
    /// fp32 floats, bf16 halves (two per float slot) or int8 bytes (four per slot).
    let packed: AlignedStorage
    let columnScales: AlignedStorage?
    /// Σ_p q[p][j] per column, Int32 bit patterns in float slots.
    let columnSums: AlignedStorage?

    init(_ weights: Tensor, precision: DensePrecision, kernels: KernelSet) {
        self.precision = precision
        let (k, n) = (Int32(weights.shape[0]), Int32(weights.shape[1]))
        let panelColumns = kernels.table.panel_columns
        switch precision {
        case .fp32:
            let panels = AlignedStorage(count: nn_packed_weights_count(k, n, panelColumns))
            weights.withUnsafeBufferPointer { nn_pack_weights(k, n, $0.baseAddress, n, panelColumns, panels.pointer) }
            (packed, columnScales, columnSums) = (panels, nil, nil)
        case .bf16:
            let panels = AlignedStorage(count: (nn_packed_weights_bf16_count(k, n, panelColumns) + 1) / 2)
            let halves = UnsafeMutableRawPointer(panels.pointer).assumingMemoryBound(to: UInt16.self)
            weights.withUnsafeBufferPointer { nn_pack_weights_bf16(k, n, $0.baseAddress, n, panelColumns, halves) }
            (packed, columnScales, columnSums) = (panels, nil, nil)
        case .int8:
            let (codes, scales) = Int8Quantization.columnCodes(weights.scalars, columns: Int(n))
            let panels = AlignedStorage(count: (nn_packed_weights_int8_bytes(k, n) + 3) / 4)
            packed = panels
            let sums = AlignedStorage(count: Int(n))
            let bytes = UnsafeMutableRawPointer(panels.pointer).assumingMemoryBound(to: Int8.self)
            let sumPointer = UnsafeMutableRawPointer(sums.pointer).assumingMemoryBound(to: Int32.self)
            codes.withUnsafeBufferPointer { nn_pack_weights_int8(k, n, $0.baseAddress, n, bytes, sumPointer) }
            let scaleStorage = AlignedStorage(count: Int(n))
            scaleStorage.pointer.update(from: scales, count: scales.count)
            (columnScales, columnSums) = (scaleStorage, sums)
        }
    }

    /// Bytes of the packed weights, scales and sums.
    var bytes: Int {
        (packed.count + (columnScales?.count ?? 0) + (columnSums?.count ?? 0)) * MemoryLayout<Float>.size
    }

    /// Floats of scratch `dense_int8` needs for `rows` rows of `k` inputs.
    static func int8ScratchFloats(rows: Int, k: Int) -> Int {
        (nn_int8_scratch_bytes(Int32(rows), Int32(k)) + 3) / 4
    }

    /// Plain pointers for the run loop (no reference counting per call). `weights` is the
    /// row-major fp32 matrix the fp32 kernel streams for one or two rows.
    func kernel(weights: UnsafePointer<Float>) -> DenseKernel {
        DenseKernel(precision: precision, weights: weights, packed: UnsafeRawPointer(packed.pointer),
                    columnScales: columnScales.map { UnsafePointer($0.pointer) },
                    columnSums: columnSums.map { UnsafeRawPointer($0.pointer).assumingMemoryBound(to: Int32.self) })
    }
}

/// A Dense layer's kernel call with its weights resolved: plain values only.
struct DenseKernel {
    var precision: DensePrecision
    var weights: UnsafePointer<Float>
    var packed: UnsafeRawPointer
    var columnScales: UnsafePointer<Float>?
    var columnSums: UnsafePointer<Int32>?

    /// y = epilogue(x·w) for `rows` rows. `scratch` holds `DensePanels.int8ScratchFloats`
    /// for these rows (int8 only; unused otherwise).
    @inline(__always)
    func run(table: UnsafePointer<nn_kernel_table>, rows: Int32, k: Int32, n: Int32, x: UnsafePointer<Float>, ldx: Int32,
             y: UnsafeMutablePointer<Float>, ldy: Int32, epilogue: UnsafeMutablePointer<nn_epilogue>, scratch: UnsafeMutableRawPointer?) {
        switch precision {
        case .fp32:
            table.pointee.dense(rows, k, n, x, ldx, weights, n, packed.assumingMemoryBound(to: Float.self), y, ldy, epilogue)
        case .bf16:
            table.pointee.dense_bf16(rows, k, n, x, ldx, packed.assumingMemoryBound(to: UInt16.self), y, ldy, epilogue)
        case .int8:
            table.pointee.dense_int8(rows, k, n, x, ldx, packed.assumingMemoryBound(to: Int8.self), columnScales, columnSums,
                                     scratch, y, ldy, epilogue)
        }
    }
}
