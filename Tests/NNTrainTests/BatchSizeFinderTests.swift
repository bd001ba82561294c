import Foundation
import NNCore
@testable import NNTrain
import XCTest

final class BatchSizeFinderTests: XCTestCase {
    private func point(_ size: Int, _ rate: Double) -> BatchSizeFinder.Point {
        .init(batchSize: size, steps: 3, samplesPerSecond: rate, peakResidentBytes: nil, parameterBytes: 0, optimizerBytes: 0, activationBytes: 0)
    }

    func testSizesArePowersOfTwoUpToTheRows() {
        XCTAssertEqual(BatchSizeFinder.sizes(from: 8, upTo: 100), [8, 16, 32, 64])
        XCTAssertEqual(BatchSizeFinder.sizes(from: 8, upTo: 64), [8, 16, 32, 64])
        XCTAssertEqual(BatchSizeFinder.sizes(from: 8, upTo: 7), [])
    }

    func testTheKneeIsTheFirstSizeWhoseDoublingGainsUnderFivePercent() {
        // 8 → 16 gains 60%, 16 → 32 gains 10%, 32 → 64 gains 4%: the knee is 32.
        let points = [point(8, 1000), point(16, 1600), point(32, 1760), point(64, 1830), point(128, 2500)]
        XCTAssertEqual(BatchSizeFinder.knee(points), 32)
        XCTAssertEqual(BatchSizeFinder.knee([point(8, 1000), point(16, 1050)]), 16, "exactly 5% is still a gain")
        XCTAssertEqual(BatchSizeFinder.knee([point(8, 1000), point(16, 900)]), 8, "a slower doubling")
        XCTAssertEqual(BatchSizeFinder.knee(Array(points.prefix(2))), 16, "every doubling gains: the largest measured")
        XCTAssertNil(BatchSizeFinder.knee([]))
    }

    func testMemoryAmountsReadTheirUnits() {
        XCTAssertEqual(ProcessMemory.bytes(in: "512MB"), 512_000_000)
        XCTAssertEqual(ProcessMemory.bytes(in: "2 GiB"), 2 << 30)
        XCTAssertEqual(ProcessMemory.bytes(in: "1.5k"), 1500)
        XCTAssertEqual(ProcessMemory.bytes(in: "4096"), 4096)
        XCTAssertNil(ProcessMemory.bytes(in: "12 parsecs"))
        XCTAssertNil(ProcessMemory.bytes(in: "-5MB"))
        XCTAssertNil(ProcessMemory.bytes(in: "0"))
        XCTAssertEqual(ProcessMemory.text(31 << 20), "31.0 MiB")
    }

    func testThePeakCountsMemoryTouchedAndFreedSinceTheReset() throws {
        // Where clear_refs cannot be written the peak is the process's lifetime one, which
        // still covers the 64 MiB held at once below.
        ProcessMemory.resetPeak()
        let before = try XCTUnwrap(ProcessMemory.residentBytes)
        let size = 64 << 20
        let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        for page in stride(from: 0, to: size, by: 4096) { block.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
        block.deallocate()
        let peak = try XCTUnwrap(ProcessMemory.peakResidentBytes)
        XCTAssertGreaterThanOrEqual(peak - before, size - (4 << 20), "64 MiB were resident at once")
    }

    func testMeasuresEverySizeAndStopsAtTheBudget() throws {
        let spec = ModelSpec(inputs: [.init(name: "pixels")],
                             layers: [.init(name: "h1", type: .dense, inputs: ["pixels"], units: 16, activation: "relu"),
                                      .init(name: "logits", type: .dense, inputs: ["h1"], units: 10, activation: "softmax")],
                             outputs: [.init(name: "label", node: "logits", loss: .sparseCategoricalCrossEntropy, targets: ["label"])])
        let table = try CSVTable.read(TrainerTests.datasets + "/digits.csv")
        let trainer = try Trainer(spec: spec, table: table, settings: TrainingSettings())
        var settings = BatchSizeFinder.Settings()
        settings.secondsPerSize = 0.01
        var reported: [Int] = []
        let result = BatchSizeFinder.run(trainer, settings: settings) { reported.append($0.batchSize) }
        XCTAssertEqual(result.points.map(\.batchSize), [8, 16, 32, 64, 128, 256, 512, 1024], "1,437 training rows")
        XCTAssertEqual(reported, result.points.map(\.batchSize))
        let parameters = 64 * 16 + 16 + 16 * 10 + 10
        for point in result.points {
            XCTAssertGreaterThanOrEqual(point.steps, 3)
            XCTAssertGreaterThan(point.samplesPerSecond, 0)
            XCTAssertEqual(point.parameterBytes, 4 * parameters)
            XCTAssertEqual(point.optimizerBytes, 2 * 4 * parameters, "adam's two moments")
            // Per row: the input (64), h1 (16) and logits (10) values and their gradients.
            XCTAssertEqual(point.activationBytes, 2 * (64 + 16 + 10) * point.batchSize * 4)
            XCTAssertNotNil(point.peakResidentBytes)
        }
        XCTAssertEqual(result.largestWithinBudget, 1024)
        XCTAssertNil(result.stoppedBecause)
        XCTAssertEqual(trainer.optimizer.step, 0, "the trainer itself is not stepped")

        settings.memoryBudget = 1 << 20
        let tight = BatchSizeFinder.run(trainer, settings: settings)
        XCTAssertEqual(tight.points.count, 1, "the first size already peaks above 1 MiB (the process is larger)")
        XCTAssertNil(tight.largestWithinBudget)
        XCTAssertTrue(tight.stoppedBecause?.hasPrefix("batch 8 peaked at ") ?? false, tight.stoppedBecause ?? "")
    }
}
