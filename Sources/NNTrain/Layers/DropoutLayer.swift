import NNCore

/// Inverted dropout and alpha dropout (training-math.md). Masks come from a counter-based
/// stream keyed by (seed, epoch, step, layer), so a resumed run draws the same masks.
enum DropoutLayer {
    /// Keep-mask scaled so backward is dy ⊙ mask.
    struct Cache {
        var scale: Tensor
    }

    /// α' = -λα of SELU: the value dropped units take in alpha dropout.
    static let alphaPrime: Float = -Float(Activation.seluLambda * Activation.seluAlpha)

    static func forward(_ x: Tensor, rate: Float, alpha: Bool, rng: inout CounterRNG) -> (Tensor, Cache) {
        guard rate > 0 else { return (x, Cache(scale: Tensor(shape: x.shape, values: [Float](repeating: 1, count: x.count)))) }
        let keep = 1 - rate
        var mask = Tensor(zeros: x.shape)
        mask.withUnsafeMutableBufferPointer { mask in
            for index in mask.indices { mask[index] = rng.nextUniform() < keep ? 1 : 0 }
        }
        if !alpha {
            let scale = mask.mapped { $0 / keep }
            return (x.zipped(with: scale, *), Cache(scale: scale))
        }
        // y = a·(x·m + α'(1-m)) + b keeps mean 0 and variance 1 for SELU activations.
        let a = 1 / (keep * (1 + rate * alphaPrime * alphaPrime)).squareRoot()
        let b = -a * alphaPrime * rate
        let y = x.zipped(with: mask) { value, kept in a * (kept == 1 ? value : alphaPrime) + b }
        return (y, Cache(scale: mask.mapped { $0 * a }))
    }

    static func backward(_ dy: Tensor, cache: Cache) -> Tensor {
        dy.zipped(with: cache.scale, *)
    }
}
