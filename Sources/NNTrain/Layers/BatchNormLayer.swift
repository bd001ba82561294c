import NNCore

/// Batch normalization (Ioffe & Szegedy 2015), formulas in training-math.md.
///
/// Training: batch mean and biased variance, x̂ = (x-μ)/√(σ²+ε), y = γx̂ + β, and the moving
/// statistics move Keras-style: moving = moving·momentum + batch·(1-momentum).
/// Inference: the moving statistics instead of the batch's.
enum BatchNormLayer {
    struct Cache {
        var normalized: Tensor
        var inverseDeviation: [Float]
    }

    static func forwardTraining(_ x: Tensor, _ norm: inout BatchNorm) -> (Tensor, Cache) {
        let rows = x.rows, width = x.columns
        var mean = [Double](repeating: 0, count: width)
        var variance = [Double](repeating: 0, count: width)
        x.withUnsafeBufferPointer { x in
            for row in 0..<rows { for j in 0..<width { mean[j] += Double(x[row * width + j]) } }
            for j in 0..<width { mean[j] /= Double(rows) }
            for row in 0..<rows {
                for j in 0..<width {
                    let d = Double(x[row * width + j]) - mean[j]
                    variance[j] += d * d
                }
            }
            for j in 0..<width { variance[j] /= Double(rows) }
        }
        let inverse = (0..<width).map { Float(1 / (variance[$0] + Double(norm.epsilon)).squareRoot()) }
        var normalized = x
        normalized.withUnsafeMutableBufferPointer { values in
            for index in values.indices {
                let j = index % width
                values[index] = (values[index] - Float(mean[j])) * inverse[j]
            }
        }
        let momentum = norm.momentum
        norm.movingMean.withUnsafeMutableBufferPointer { moving in
            for j in 0..<width { moving[j] = moving[j] * momentum + Float(mean[j]) * (1 - momentum) }
        }
        norm.movingVariance.withUnsafeMutableBufferPointer { moving in
            for j in 0..<width { moving[j] = moving[j] * momentum + Float(variance[j]) * (1 - momentum) }
        }
        return (scaleAndShift(normalized, norm), Cache(normalized: normalized, inverseDeviation: inverse))
    }

    static func forwardInference(_ x: Tensor, _ norm: BatchNorm) -> Tensor {
        let width = x.columns
        let inverse = (0..<width).map { 1 / (norm.movingVariance[$0] + norm.epsilon).squareRoot() }
        var normalized = x
        normalized.withUnsafeMutableBufferPointer { values in
            for index in values.indices {
                let j = index % width
                values[index] = (values[index] - norm.movingMean[j]) * inverse[j]
            }
        }
        return scaleAndShift(normalized, norm)
    }

    /// Inference (and frozen) form: y = γ(x-μ)/√(σ²+ε) + β with fixed statistics, so
    /// dx = dy·γ/√(σ²+ε) per feature.
    static func backwardInference(_ dy: Tensor, _ norm: BatchNorm) -> Tensor {
        let width = dy.columns
        let factor = (0..<width).map { norm.gamma[$0] / (norm.movingVariance[$0] + norm.epsilon).squareRoot() }
        var dx = dy
        dx.withUnsafeMutableBufferPointer { g in
            for index in g.indices { g[index] *= factor[index % width] }
        }
        return dx
    }

    /// dx = γ/(N·√(σ²+ε)) · (N·dy - Σdy - x̂·Σ(dy·x̂)); dγ = Σ dy·x̂; dβ = Σ dy.
    static func backward(_ dy: Tensor, cache: Cache, _ norm: BatchNorm) -> (dx: Tensor, dGamma: Tensor, dBeta: Tensor) {
        let rows = dy.rows, width = dy.columns
        var sumDy = [Double](repeating: 0, count: width)
        var sumDyX = [Double](repeating: 0, count: width)
        dy.withUnsafeBufferPointer { dy in
            cache.normalized.withUnsafeBufferPointer { xhat in
                for index in 0..<rows * width {
                    sumDy[index % width] += Double(dy[index])
                    sumDyX[index % width] += Double(dy[index] * xhat[index])
                }
            }
        }
        var dx = dy
        let count = Float(rows)
        cache.normalized.withUnsafeBufferPointer { xhat in
            dx.withUnsafeMutableBufferPointer { dx in
                for index in dx.indices {
                    let j = index % width
                    let scale = norm.gamma[j] * cache.inverseDeviation[j] / count
                    dx[index] = scale * (count * dx[index] - Float(sumDy[j]) - xhat[index] * Float(sumDyX[j]))
                }
            }
        }
        return (dx, Tensor(sumDyX.map { Float($0) }), Tensor(sumDy.map { Float($0) }))
    }

    private static func scaleAndShift(_ normalized: Tensor, _ norm: BatchNorm) -> Tensor {
        var y = normalized
        let width = normalized.columns
        y.withUnsafeMutableBufferPointer { values in
            for index in values.indices {
                let j = index % width
                values[index] = values[index] * norm.gamma[j] + norm.beta[j]
            }
        }
        return y
    }
}
