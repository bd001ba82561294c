import NNCore
@testable import NNTrain
import XCTest

final class OptimizerTests: XCTestCase {
    /// f(w) = w² as a one-parameter graph: a 1×1 Dense whose weight is w (input 1, no bias use).
    private func quadratic(_ w: Float) throws -> TrainingGraph {
        let dense = DenseParameters(weights: Tensor(shape: [1, 1], values: [w]), bias: Tensor([0]))
        return try TrainingGraph(Graph(inputs: [GraphInput(name: "x", width: 1)],
                                       nodes: [Node(name: "w", operation: .dense(dense), inputs: ["x"])],
                                       outputs: [GraphOutput(name: "y", node: "w")]))
    }

    private func weight(_ graph: TrainingGraph) -> Float {
        guard case .dense(let dense) = graph.graph.nodes[0].operation else { return .nan }
        return dense.weights[0]
    }

    private func run(_ rule: Optimizer.Rule, rate: Float, steps: Int, from start: Float = 1) throws -> [Float] {
        var graph = try quadratic(start)
        var optimizer = Optimizer(rule: rule, schedule: .constant(rate))
        var trajectory: [Float] = []
        for _ in 0..<steps {
            let w = weight(graph)
            optimizer.apply(["w/weights": Tensor(shape: [1, 1], values: [2 * w])], to: &graph)
            trajectory.append(weight(graph))
        }
        return trajectory
    }

    /// Oracle from training-math.md: the first Adam step has size ≈ lr whatever the gradient.
    func testAdamFirstStepHasTheLearningRatesSize() throws {
        XCTAssertEqual(try run(.adamDefault, rate: 0.1, steps: 1)[0], 0.9, accuracy: 1e-6)
        XCTAssertEqual(try run(.adamDefault, rate: 0.1, steps: 1, from: 1000)[0], 999.9, accuracy: 1e-3)
    }

    /// A parameter that joins late (a layer unfrozen after some epochs) takes a first step of
    /// ≈ lr too: its bias correction counts its own steps, not the run's (which would make it
    /// lr·(1-β1)/√(1-β2) ≈ 3.2·lr).
    func testAdamParameterJoiningLateTakesAFirstStepOfTheLearningRatesSize() throws {
        var graph = try quadratic(1)
        var optimizer = Optimizer(rule: .adamDefault, schedule: .constant(0.1))
        for _ in 0..<50 { optimizer.apply(["w/bias": Tensor([0.5])], to: &graph) }
        optimizer.apply(["w/weights": Tensor(shape: [1, 1], values: [2])], to: &graph)
        XCTAssertEqual(weight(graph), 0.9, accuracy: 1e-5)
        XCTAssertEqual(optimizer.slots["w/weights"]?["first_step"]?[0], 50)
        XCTAssertNil(optimizer.slots["w/bias"]?["first_step"])
    }

    func testAdamMatchesTheFormulaOverSeveralSteps() throws {
        var w = 1.0, m = 0.0, v = 0.0
        var expected: [Double] = []
        for t in 1...5 {
            let g = 2 * w
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w -= 0.1 * (m / (1 - pow(0.9, Double(t)))) / ((v / (1 - pow(0.999, Double(t)))).squareRoot() + 1e-7)
            expected.append(w)
        }
        for (actual, wanted) in zip(try run(.adamDefault, rate: 0.1, steps: 5), expected) {
            XCTAssertEqual(Double(actual), wanted, accuracy: 1e-5)
        }
    }

    func testSGDMomentumNesterovAndAdamW() throws {
        XCTAssertEqual(try run(.sgd, rate: 0.1, steps: 2), [0.8, 0.64])
        // v1 = 2, w1 = 0.8; v2 = 0.9·2 + 1.6 = 3.4, w2 = 0.8 - 0.34 = 0.46
        let momentum = try run(.momentum(0.9), rate: 0.1, steps: 2)
        XCTAssertEqual(momentum[0], 0.8, accuracy: 1e-6)
        XCTAssertEqual(momentum[1], 0.46, accuracy: 1e-6)
        // Nesterov: w1 = 1 - 0.1·(2 + 0.9·2) = 0.62
        XCTAssertEqual(try run(.nesterov(0.9), rate: 0.1, steps: 1)[0], 0.62, accuracy: 1e-6)
        // AdamW: decay first (1 - 0.1·0.5 = 0.95), then the Adam step of size lr.
        XCTAssertEqual(try run(.adamW(beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.5), rate: 0.1, steps: 1)[0],
                       0.85, accuracy: 1e-5)
    }

    func testGradientClippingByGlobalNorm() throws {
        var graph = try quadratic(1)
        var optimizer = Optimizer(rule: .sgd, schedule: .constant(1), clipNorm: 0.5)
        optimizer.apply(["w/weights": Tensor(shape: [1, 1], values: [3]), "w/bias": Tensor([4])], to: &graph)
        // Norm 5 → scaled by 0.1: weight 1 - 0.3, bias 0 - 0.4.
        XCTAssertEqual(weight(graph), 0.7, accuracy: 1e-6)
    }

    func testSchedules() {
        XCTAssertEqual(LearningRateSchedule.step(initial: 1, factor: 0.5, every: 10).rate(atStep: 25), 0.25)
        XCTAssertEqual(LearningRateSchedule.exponential(initial: 1, decay: 0.5, decaySteps: 10).rate(atStep: 20), 0.25, accuracy: 1e-6)
        let cosine = LearningRateSchedule.cosine(peak: 1, warmupSteps: 10, totalSteps: 110, floor: 0)
        XCTAssertEqual(cosine.rate(atStep: 4), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(atStep: 60), 0.5, accuracy: 1e-6)
        XCTAssertEqual(cosine.rate(atStep: 110), 0, accuracy: 1e-6)
        let cycle = LearningRateSchedule.oneCycle(peak: 1, totalSteps: 100)
        XCTAssertEqual(cycle.rate(atStep: 0), 0.04, accuracy: 1e-6)
        XCTAssertEqual(cycle.rate(atStep: 30), 1, accuracy: 1e-6)
        XCTAssertEqual(cycle.rate(atStep: 100), 1e-4, accuracy: 1e-6)
    }

    /// `--scale-lr linear` scales the rate with the batch size; `--warmup-epochs` ramps any
    /// schedule up linearly (cosine keeps its own warmup).
    func testLinearScalingAndWarmupForEverySchedule() throws {
        var settings = TrainingSettings()
        settings.learningRate = 1e-3
        settings.batchSize = 128
        settings.scaleLearningRate = .linear
        settings.baseBatchSize = 32
        XCTAssertEqual(settings.effectiveLearningRate, 4e-3, accuracy: 1e-9)
        XCTAssertEqual(try settings.makeOptimizer(stepsPerEpoch: 10).learningRate, 4e-3, accuracy: 1e-9)
        settings.warmupEpochs = 2
        let warm = try settings.makeOptimizer(stepsPerEpoch: 10).schedule
        XCTAssertEqual(warm.rate(atStep: 0), 4e-3 / 20, accuracy: 1e-9)
        XCTAssertEqual(warm.rate(atStep: 9), 4e-3 * 10 / 20, accuracy: 1e-9)
        XCTAssertEqual(warm.rate(atStep: 19), 4e-3, accuracy: 1e-9)
        XCTAssertEqual(warm.rate(atStep: 500), 4e-3, accuracy: 1e-9)
        settings.schedule = .step
        settings.epochs = 8
        let stepped = try settings.makeOptimizer(stepsPerEpoch: 10).schedule
        XCTAssertEqual(stepped.rate(atStep: 4), 4e-3 * 5 / 20, accuracy: 1e-9, "warmup scales the step schedule's first value")
        XCTAssertEqual(stepped.rate(atStep: 25), 4e-3 * 0.5, accuracy: 1e-9, "after warmup the step schedule as it was (every 20 steps x0.5)")
        // The one rule is linear: another spelling is refused where it is read (the flag).
        XCTAssertThrowsError(try LearningRateScaling.spelled("sqrt")) {
            XCTAssertEqual("\($0)", "unknown learning-rate scaling 'sqrt' (did you mean 'linear'?); one of linear")
        }
        settings.scaleLearningRate = .linear
        settings.baseBatchSize = nil
        XCTAssertThrowsError(try settings.validate()) {
            XCTAssertEqual("\($0)", "--base-batch-size (none): --scale-lr linear needs the batch size the rate was chosen at")
        }
    }
}
