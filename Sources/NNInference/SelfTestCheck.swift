import NNCore

/// Runs self-test cases (inputs and expected outputs) through a compiled graph: what the
/// exporter's verification and the server's load check both do.
public enum SelfTestCheck {
    /// Largest error over all cases and outputs, relative to each expected row's largest
    /// magnitude (floored at 1e-6).
    /// `plan`: the compiled model as it will run (`ServedModel` checks its own plan).
    public static func maxRelativeError(plan: Plan, cases: [(inputs: [String: Tensor], expected: [String: Tensor])]) throws(InferenceError) -> Double {
        let executor = Executor(plan: plan)
        var worst = 0.0
        for test in cases {
            let outputs = try executor.predict(test.inputs)
            for (name, expected) in test.expected {
                guard let actual = outputs[name] else { throw InferenceError.invalidInput(.unknownOutput(name: name, known: Array(outputs.keys))) }
                let width = expected.shape[1]
                for row in 0..<expected.shape[0] {
                    let scale = max(1e-6, (0..<width).map { Double(abs(expected[row, $0])) }.max() ?? 0)
                    for column in 0..<width {
                        let error = abs(Double(actual[row, column]) - Double(expected[row, column])) / scale
                        worst = error.isNaN ? .infinity : max(worst, error)
                    }
                }
            }
        }
        return worst
    }
}
