import Foundation
import NNCore
import NNInference

/// Optimizers (formulas and defaults in training-math.md). State is per parameter name, so
/// it checkpoints and restores with the parameters.
public struct Optimizer: Sendable {
    /// The update rule with its constants; `OptimizerKind` is its name.
    public enum Rule: Sendable, Equatable {
        case sgd
        /// PyTorch form: v = μv + g; w -= lr·v.
        case momentum(Float)
        /// w -= lr·(g + μv) with v = μv + g.
        case nesterov(Float)
        case adam(beta1: Float, beta2: Float, epsilon: Float)
        /// Adam with decoupled weight decay: w -= lr·wd·w alongside the Adam step.
        case adamW(beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float)

        /// Keras' Adam defaults (ε = 1e-7).
        public static let adamDefault = Rule.adam(beta1: 0.9, beta2: 0.999, epsilon: 1e-7)

        public var kind: OptimizerKind {
            switch self {
            case .sgd: .sgd
            case .momentum: .momentum
            case .nesterov: .nesterov
            case .adam: .adam
            case .adamW: .adamw
            }
        }
    }

    public var rule: Rule
    public var schedule: LearningRateSchedule
    /// Rescale all gradients together when their global L2 norm exceeds this.
    public var clipNorm: Float?
    /// Steps taken so far (Adam's bias correction uses step + 1 for the next one).
    public private(set) var step: Int = 0
    /// Per-parameter slots: "m" and "v" for Adam, "velocity" for momentum.
    public private(set) var slots: [String: [String: Tensor]] = [:]

    public init(rule: Rule, schedule: LearningRateSchedule, clipNorm: Float? = nil) {
        self.rule = rule
        self.schedule = schedule
        self.clipNorm = clipNorm
    }

    /// Restores a checkpointed state.
    public init(rule: Rule, schedule: LearningRateSchedule, clipNorm: Float?, step: Int, slots: [String: [String: Tensor]]) {
        self.init(rule: rule, schedule: schedule, clipNorm: clipNorm)
        self.step = step
        self.slots = slots
    }

    /// The learning rate of the next step.
    public var learningRate: Float { schedule.rate(atStep: step) }

    /// Global L2 norm of a set of gradients.
    public static func globalNorm(_ gradients: [String: Tensor]) -> Double {
        gradients.keys.sorted().reduce(0.0) { total, key in
            gradients[key]!.scalars.reduce(total) { $0 + Double($1) * Double($1) }
        }.squareRoot()
    }

    /// Applies one step to every parameter of `graph` that has a gradient.
    public mutating func apply(_ gradients: [String: Tensor], to graph: inout TrainingGraph) {
        let rate = learningRate
        var scale: Float = 1
        if let clipNorm {
            let norm = Self.globalNorm(gradients)
            if norm > Double(clipNorm) { scale = Float(Double(clipNorm) / norm) }
        }
        step += 1
        let t = Float(step)
        graph.updateParameters { name, parameter in
            guard var gradient = gradients[name] else { return }
            if scale != 1 { gradient = gradient.mapped { $0 * scale } }
            update(name, &parameter, gradient, rate: rate, t: t)
        }
    }

    private mutating func update(_ name: String, _ parameter: inout Tensor, _ gradient: Tensor, rate: Float, t: Float) {
        switch rule {
        case .sgd:
            parameter = parameter.zipped(with: gradient) { $0 - rate * $1 }
        case .momentum(let mu), .nesterov(let mu):
            let previous = slots[name]?["velocity"] ?? Tensor(zeros: parameter.shape)
            let velocity = previous.zipped(with: gradient) { mu * $0 + $1 }
            slots[name, default: [:]]["velocity"] = velocity
            if case .nesterov = rule {
                let direction = gradient.zipped(with: velocity) { $0 + mu * $1 }
                parameter = parameter.zipped(with: direction) { $0 - rate * $1 }
            } else {
                parameter = parameter.zipped(with: velocity) { $0 - rate * $1 }
            }
        case .adam(let beta1, let beta2, let epsilon), .adamW(let beta1, let beta2, let epsilon, _):
            // Taken out of `slots` (and nothing else kept of the dictionary), so m and v are
            // uniquely referenced and the kernel writes them in place instead of copying both.
            let startsNow = slots[name] == nil
            var state = slots.removeValue(forKey: name) ?? ["m": Tensor(zeros: parameter.shape), "v": Tensor(zeros: parameter.shape)]
            var m = state.removeValue(forKey: "m")!, v = state.removeValue(forKey: "v")!
            // A parameter that starts learning late (a layer unfrozen after N epochs) starts its
            // moments at zero, so its bias correction counts its own steps: with the run's, its
            // first update would be lr·(1-β1)/√(1-β2) ≈ 3.2 × lr per weight. Only such
            // parameters carry the "first_step" slot.
            let lateStart = state["first_step"]?[0] ?? (startsNow && t > 1 ? t - 1 : 0)
            let ownStep = t - lateStart
            let correction1 = 1 - Float(pow(Double(beta1), Double(ownStep)))
            let correction2 = 1 - Float(pow(Double(beta2), Double(ownStep)))
            var decay: Float = 0
            if case .adamW(_, _, _, let weightDecay) = rule { decay = rate * weightDecay }
            // One fused pass in C, in place: the moments and the weights are each touched once.
            SharedKernels.adamUpdate(weights: &parameter, gradient: gradient, m: &m, v: &v, beta1: beta1, beta2: beta2, rate: rate,
                                     correction1: correction1, correction2: correction2, epsilon: epsilon, decay: decay)
            slots[name] = lateStart > 0 ? ["m": m, "v": v, "first_step": Tensor([lateStart])] : ["m": m, "v": v]
        }
    }
}

/// The learning rate as a function of the step.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant(Float)
    /// rate · factor^⌊step / every⌋
    case step(initial: Float, factor: Float, every: Int)
    /// rate · decay^(step / decaySteps)
    case exponential(initial: Float, decay: Float, decaySteps: Int)
    /// Linear warmup to `peak` over `warmupSteps`, then cosine decay to `floor` at `totalSteps`.
    case cosine(peak: Float, warmupSteps: Int, totalSteps: Int, floor: Float)
    /// Smith's one-cycle: linear from peak/25 up to peak over 30% of the steps, then cosine
    /// down to peak/1e4 (fastai's defaults).
    case oneCycle(peak: Float, totalSteps: Int)
    /// Another schedule begun at `step` (a resumed run that starts a new schedule for its
    /// extra epochs): its step 0 is this step.
    indirect case startingAt(step: Int, LearningRateSchedule)
    /// Another schedule scaled by (step + 1) / steps over its first `steps` steps.
    indirect case warmup(steps: Int, LearningRateSchedule)

    public func rate(atStep step: Int) -> Float {
        let s = Double(step)
        switch self {
        case .startingAt(let start, let schedule):
            return schedule.rate(atStep: max(0, step - start))
        case .warmup(let steps, let schedule):
            let ramp = step < steps ? Float(step + 1) / Float(steps) : 1
            return schedule.rate(atStep: step) * ramp
        case .constant(let rate):
            return rate
        case .step(let initial, let factor, let every):
            return initial * Float(pow(Double(factor), Double(step / max(every, 1))))
        case .exponential(let initial, let decay, let decaySteps):
            return initial * Float(pow(Double(decay), s / Double(max(decaySteps, 1))))
        case .cosine(let peak, let warmup, let total, let floor):
            if step < warmup { return peak * Float((s + 1) / Double(warmup)) }
            let progress = min(1, (s - Double(warmup)) / Double(max(total - warmup, 1)))
            return floor + (peak - floor) * Float(0.5 * (1 + cos(Double.pi * progress)))
        case .oneCycle(let peak, let total):
            let rise = max(1, Int(Double(total) * 0.3))
            let start = Double(peak) / 25, end = Double(peak) / 1e4
            if step < rise { return Float(start + (Double(peak) - start) * s / Double(rise)) }
            let progress = min(1, (s - Double(rise)) / Double(max(total - rise, 1)))
            return Float(end + (Double(peak) - end) * 0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
