import NNCore

/// z = x·W + b, y = f(z).
enum DenseLayer {
    struct Cache {
        var input: Tensor
        var preActivation: Tensor
        var output: Tensor
    }

    static func forward(_ x: Tensor, weights: Tensor, bias: Tensor, activation: Activation) -> (Tensor, Cache) {
        let z = MatrixMath.multiply(x, weights, addingRow: bias)
        let y = ActivationLayer.forward(z, activation)
        return (y, Cache(input: x, preActivation: z, output: y))
    }

    /// Gradients from dL/dz (the activation's backward already applied): dx = dz·Wᵀ (when
    /// asked for), dW = xᵀ·dz, db = Σ dz.
    static func backward(dz: Tensor, cache: Cache, weights: Tensor, inputGradient: Bool = true)
        -> (dx: Tensor?, dWeights: Tensor, dBias: Tensor) {
        (inputGradient ? MatrixMath.multiplyTransposingSecond(dz, weights) : nil,
         MatrixMath.multiplyTransposingFirst(cache.input, dz), dz.columnSums())
    }
}
