import Foundation
import NNCore
import NNFormat
import NNInference
@testable import NNTrain
import XCTest

/// Tables as people write them: gaps, strings, quoted fields, text labels, other delimiters.
/// What a run learns from them (vocabularies, fills, profiles, labels) lives in the graph, so
/// a checkpoint resumes, evaluates and predicts with the very same encoding.
final class RawTableTests: XCTestCase {
    private func table(_ text: String, delimiter: UInt8 = CSVReader.comma) throws -> CSVTable {
        try CSVTable.parse(text, file: "t.csv", delimiter: delimiter)
    }

    func testFieldsAreNumbersGapsOrText() throws {
        let parsed = try table("name,age,class\n\"Allen, Miss\",29,1st\nBob,,3rd\n\"Cy\",NA,2\n")
        XCTAssertEqual(parsed.header, ["name", "age", "class"])
        XCTAssertEqual(parsed.rowCount, 3)
        XCTAssertEqual(parsed.text[0], ["Allen, Miss", "Bob", "Cy"])
        XCTAssertNil(parsed.text[1], "a column of numbers and gaps keeps numbers only")
        XCTAssertEqual(parsed.rawValue(row: 1, column: 1), .missing)
        XCTAssertEqual(parsed.text[2], ["1st", "3rd", "2"], "a number in a text column is spelled as a category")
        XCTAssertThrowsError(try parsed.matrix(columns: ["age"])) {
            XCTAssertEqual("\($0)", "t.csv:3: column 'age' has no value where one is needed (a target, or a column of numbers without gaps at training)")
        }
        XCTAssertThrowsError(try parsed.matrix(columns: ["class"])) { XCTAssertEqual("\($0)", "t.csv:2: column 'class': '1st' is not a number") }
        XCTAssertThrowsError(try table("a,b\n1,inf\n").matrix(columns: ["b"])) { XCTAssertEqual("\($0)", "t.csv:2: column 'b': inf is not finite") }
        XCTAssertEqual(try table("v\n1\n\n2\n\n\n").rowCount, 3, "a one-column file: a blank line inside is a gap, at the end nothing")
        XCTAssertThrowsError(try table("a,b\n1,2\n\n3,4\n")) { XCTAssertEqual("\($0)", "t.csv:3: 1 fields, the header has 2") }
    }

    func testHeaderCheckNamesEveryMissingColumnAndTheDelimiterHint() throws {
        let parsed = try table("carat,cut,price\n1,Ideal,3\n")
        XCTAssertThrowsError(try parsed.requireColumns(["carrat", "colour", "price"])) {
            XCTAssertEqual("\($0)", "t.csv: no columns 'carrat' (did you mean 'carat'?), 'colour'; columns are carat, cut, price")
        }
        let semicolons = try table("carat;cut;price\n1;Ideal;3\n")
        XCTAssertThrowsError(try semicolons.requireColumns(["price"])) {
            XCTAssertEqual("\($0)", "t.csv: no column 'price'; columns are carat;cut;price. The file has one column: is it separated by ';'? Pass --delimiter ';'")
        }
        let separated = try table("carat;cut;price\n" + (0..<20).map { "\($0 % 5);\($0 % 2 == 0 ? "Ideal" : "Fair");\($0)\n" }.joined(), delimiter: 59)
        XCTAssertEqual(separated.header, ["carat", "cut", "price"])
        let spec = ModelSpec(inputs: [.init(name: "x")], layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 1)],
                             outputs: [.init(name: "price", node: "out", loss: .mse)])
        let run = try Trainer(spec: spec, table: separated, settings: settings)
        let stored = try CheckpointFile.decode(run.checkpointFile().encoded(), source: "run.ckpt")
        XCTAssertEqual(stored.state.split.delimiter, 59, "resume and evaluate read the run's files with its delimiter")
    }

    private let passengerSpec = ModelSpec(
        inputs: [.init(name: "passenger", columns: ["sex", "age", "passengerClass"])],
        layers: [.init(name: "hidden", type: .dense, inputs: ["passenger"], units: 8, activation: "relu"),
                 .init(name: "survived", type: .dense, inputs: ["hidden"], units: 1, activation: "sigmoid")],
        outputs: [.init(name: "survived", node: "survived", loss: .binaryCrossEntropy)])

    private var settings: TrainingSettings {
        var settings = TrainingSettings()
        settings.epochs = 5
        settings.batchSize = 64
        settings.learningRate = 0.01
        return settings
    }

    func testTitanicTrainsOnItsRawColumnsAndTheGraphCarriesThem() throws {
        let titanic = try CSVTable.read(TrainerTests.datasets + "/titanic.csv")
        var trainer = try Trainer(spec: passengerSpec, table: titanic, settings: settings)
        try trainer.fit(checkpoint: nil)
        let input = try XCTUnwrap(trainer.model.graph.inputs.first)
        XCTAssertEqual(input.columns.map(\.name), ["sex", "age", "passengerClass"])
        XCTAssertEqual(input.featureNames, ["sex=male", "sex=female", "age", "age:missing", "passengerClass=3rd", "passengerClass=1st", "passengerClass=2nd"])
        guard case .numeric(let age) = input.columns[1].kind else { return XCTFail("age is numeric") }
        XCTAssertTrue(age.indicatesMissing)
        XCTAssertEqual(input.columns[1].profile.missingRate, 263 / 1309, accuracy: 0.03, "the training split's share of the 263 gaps")
        XCTAssertEqual(age.fill, input.columns[1].profile.mean)
        XCTAssertEqual(input.standardization?.std[0], 1, "one-hot slots are not scaled")
        XCTAssertEqual(input.standardization?.std[3], 1, "nor the gap indicator")
        XCTAssertEqual(trainer.model.graph.outputs[0].labels, ["no", "yes"])
        XCTAssertGreaterThan(try trainer.evaluate()["val_accuracy"] ?? 0, 0.7)

        // The checkpoint keeps it all; resume, evaluate and predict encode as training did.
        let checkpoint = try CheckpointFile.decode(trainer.checkpointFile(name: "titanic").encoded(), source: "run.ckpt")
        XCTAssertEqual(checkpoint.graph.inputs, trainer.model.graph.inputs)
        XCTAssertEqual(checkpoint.graph.outputs[0].labels, ["no", "yes"])
        var resumed = try Trainer.resume(checkpoint, table: titanic, additionalEpochs: 1)
        try resumed.fit(checkpoint: nil)
        XCTAssertEqual(resumed.model.graph.inputs[0].columns, input.columns, "resume keeps the vocabulary")
        let rows = try table("name,sex,age,passengerClass\n\"A, B\",female,,1st\nC,male,40,crew\n")
        let predicted = try OfflinePrediction.csv(checkpoint, table: rows)
        let lines = predicted.split(separator: "\n")
        XCTAssertEqual(lines[0], "survived,survived_label")
        XCTAssertEqual(lines.count, 3)
        XCTAssertTrue(lines[1].hasSuffix(",yes") || lines[1].hasSuffix(",no"))
    }

    func testInitFromKeepsTheSourceVocabulary() throws {
        let titanic = try CSVTable.read(TrainerTests.datasets + "/titanic.csv")
        let source = try Trainer(spec: passengerSpec, table: titanic, settings: settings)
        // A table where 'crew' is frequent: learned afresh it would be a category.
        var text = "sex,age,passengerClass,survived\n"
        for row in 0..<40 { text += "\(row % 2 == 0 ? "male" : "female"),\(20 + row),\(row % 3 == 0 ? "crew" : "1st"),\(row % 2 == 0 ? "no" : "yes")\n" }
        let encoding = TableEncoding(graph: source.model.graph)
        var fresh = try Trainer(spec: passengerSpec, table: try table(text), settings: settings, encoding: encoding)
        XCTAssertEqual(fresh.model.graph.inputs[0].columns, source.model.graph.inputs[0].columns)
        XCTAssertNoThrow(try fresh.initialize(from: source.checkpointFile(), file: "source.ckpt"))
    }

    func testVocabularyCutsRareCategoriesIntoOtherAndGapsIntoTheirSlot() throws {
        var text = "city,y\n"
        for (city, count) in [("Paris", 6), ("Lyon", 4), ("Nice", 2), ("Brest", 1)] { text += String(repeating: "\(city),1\n", count: count) }
        text += ",0\n,0\n"
        var input = ModelSpec.Input(name: "x", columns: ["city"], minFrequency: 2)
        let spec = ModelSpec(inputs: [input], layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 1)],
                             outputs: [.init(name: "y", node: "out", loss: .mse)])
        let parsed = try table(text)
        let rows = Array(0..<parsed.rowCount)
        var encoding = try TableEncoding.learn(parsed, spec: spec, featureColumns: ["x": ["city"]], rows: rows, warn: { _ in })
        var column = try XCTUnwrap(encoding.columns["x"]?.first)
        XCTAssertEqual(column.featureNames, ["city=Paris", "city=Lyon", "city=Nice", "city=(other)", "city=(missing)"])
        let thirteenths: [Float] = [6, 4, 2, 1].map { $0 / 13 }
        XCTAssertEqual(column.profile.fractions, thirteenths)
        XCTAssertEqual(column.profile.missingRate, Float(2) / 15)
        input.maxCategories = 1
        input.minFrequency = 3
        encoding = try TableEncoding.learn(parsed, spec: ModelSpec(inputs: [input], layers: spec.layers, outputs: spec.outputs),
                                           featureColumns: ["x": ["city"]], rows: rows, warn: { _ in })
        column = try XCTUnwrap(encoding.columns["x"]?.first)
        XCTAssertEqual(column.featureNames, ["city=Paris", "city=(other)"], "two gaps are fewer than min_frequency: no slot of their own")
    }

    func testBadColumnsAreRefusedWithFileLineAndColumn() throws {
        func learn(_ text: String, categorical: [String]? = nil) throws {
            let parsed = try table(text)
            let spec = ModelSpec(inputs: [.init(name: "x", columns: ["v"], categorical: categorical)],
                                 layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 1)], outputs: [.init(name: "y", node: "out", loss: .mse)])
            _ = try TableEncoding.learn(parsed, spec: spec, featureColumns: ["x": ["v"]], rows: Array(0..<parsed.rowCount), warn: { _ in })
        }
        let typo = "v,y\n" + (0..<40).map { "\($0),1\n" }.joined() + "4O,1\n"
        XCTAssertThrowsError(try learn(typo)) {
            XCTAssertEqual("\($0)", "t.csv:42: column 'v': '4O' is not a number, yet 40 of its 41 values are; fix the value, leave the field empty for a gap, or list 'v' in the input's \"categorical\"")
        }
        XCTAssertNoThrow(try learn(typo, categorical: ["v"]))
        XCTAssertThrowsError(try learn("v,y\nshort,1\n\(String(repeating: "x", count: 300)),1\n")) {
            XCTAssertEqual("\($0)", "t.csv:3: column 'v': a category of 300 bytes; categories are at most 256 bytes")
        }
        let identifiers = "v,y\n" + (0...Categories.maximumVocabulary).map { "id\($0),1\n" }.joined()
        XCTAssertThrowsError(try learn(identifiers)) {
            XCTAssertTrue("\($0)".hasPrefix("t.csv:10002: column 'v' has more than 10000 distinct values by this line"), "\($0)")
        }
        XCTAssertThrowsError(try learn("v,y\n,1\nNA,2\n")) { XCTAssertEqual("\($0)", "t.csv: column 'v' has no value in the 2 training rows") }
    }

    func testANumericTableLearnsNothingAndTrainsAsBefore() throws {
        let digits = try CSVTable.read(TrainerTests.datasets + "/wine.csv")
        let spec = ModelSpec(inputs: [.init(name: "x")], layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 3, activation: "softmax")],
                             outputs: [.init(name: "label", node: "out", loss: .sparseCategoricalCrossEntropy)])
        let trainer = try Trainer(spec: spec, table: digits, settings: settings)
        XCTAssertTrue(trainer.model.graph.inputs[0].columns.isEmpty)
        XCTAssertTrue(trainer.model.graph.outputs[0].labels.isEmpty)
    }

    func testTextLabelsMustFitTheHead() throws {
        let penguins = try CSVTable.read(TrainerTests.datasets + "/penguins.csv")
        let spec = ModelSpec(inputs: [.init(name: "x", columns: ["island", "bill_length_mm"])],
                             layers: [.init(name: "out", type: .dense, inputs: ["x"], units: 2, activation: "softmax")],
                             outputs: [.init(name: "species", node: "out", loss: .sparseCategoricalCrossEntropy)])
        XCTAssertThrowsError(try Trainer(spec: spec, table: penguins, settings: settings)) {
            XCTAssertEqual("\($0)", "model: output 'species' reads 'out', which has 2 units, but its target 'species' has 3 labels (Adelie, Chinstrap, Gentoo); give it 3 units")
        }
        var named = spec
        named.layers[0].units = 3
        named.outputs[0].labels = ["Adelie", "Gentoo"]
        XCTAssertThrowsError(try Trainer(spec: named, table: penguins, settings: settings)) {
            XCTAssertTrue("\($0)".hasSuffix("penguins.csv:278: target 'species' is 'Chinstrap', not one of the output's labels Adelie, Gentoo"), "\($0)")
        }
    }

    func testEmbeddedColumnsAreInputsOfTheirOwnReadByALearnedDense() throws {
        let titanic = try CSVTable.read(TrainerTests.datasets + "/titanic.csv")
        var spec = passengerSpec
        spec.inputs[0].embeddings = ["passengerClass": 2]
        var trainer = try Trainer(spec: spec, table: titanic, settings: settings)
        let graph = trainer.model.graph
        XCTAssertEqual(graph.inputs.map(\.name), ["passenger#features", "passenger#passengerClass"])
        XCTAssertEqual(graph.inputs[0].columns.map(\.name), ["sex", "age"])
        XCTAssertEqual(graph.inputs[1].featureNames, ["passengerClass=3rd", "passengerClass=1st", "passengerClass=2nd"])
        guard case .dense(let embedding)? = graph.node(named: "passenger#passengerClass/embedding")?.operation else { return XCTFail("no embedding layer") }
        XCTAssertEqual(embedding.weights.shape, [3, 2])
        XCTAssertEqual(graph.node(named: "passenger")?.operation, .concat)
        XCTAssertEqual(graph.node(named: "passenger")?.inputs, ["passenger#features", "passenger#passengerClass/embedding"])
        let before = embedding.weights
        try trainer.fit(checkpoint: nil)
        guard case .dense(let learned)? = trainer.model.graph.node(named: "passenger#passengerClass/embedding")?.operation else { return XCTFail() }
        XCTAssertNotEqual(learned.weights, before, "the embedding learns")
        // A server's plan takes the three raw columns, as for one-hot.
        let plan = try Plan(graph: trainer.model.graph)
        XCTAssertEqual(plan.requestInputs.map(\.name), ["sex", "age", "passengerClass"])
        // The checkpoint keeps the expanded spec: resume and predict need nothing more.
        let checkpoint = try CheckpointFile.decode(trainer.checkpointFile().encoded(), source: "run.ckpt")
        XCTAssertEqual(try checkpoint.state.modelSpec().inputs.map(\.name), ["passenger#features", "passenger#passengerClass"])
        var resumed = try Trainer.resume(checkpoint, table: titanic, additionalEpochs: 1)
        try resumed.fit(checkpoint: nil)
        XCTAssertEqual(try OfflinePrediction.csv(checkpoint, table: titanic).split(separator: "\n").count, 1310)
        // --init-from: the source's embedded vocabulary is put back together and kept.
        let fresh = try Trainer(spec: spec, table: titanic, settings: settings, encoding: TableEncoding(graph: checkpoint.graph))
        XCTAssertEqual(fresh.model.graph.inputs, checkpoint.graph.inputs.map { input in
            var copy = input
            copy.standardization = fresh.model.graph.inputs.first { $0.name == input.name }?.standardization
            return copy
        })
        // Large vocabularies are embedded unless asked otherwise; a column that is not
        // categorical cannot be.
        spec.inputs[0].embeddings = nil
        spec.inputs[0].embeddingAbove = 2
        let automatic = try Trainer(spec: spec, table: titanic, settings: settings).model.graph
        XCTAssertEqual(automatic.inputs.map(\.name), ["passenger#features", "passenger#passengerClass"])
        XCTAssertEqual(EmbeddingExpansion.dimension(categories: 3), 3)
        XCTAssertEqual(EmbeddingExpansion.dimension(categories: 100), 21)
        XCTAssertEqual(EmbeddingExpansion.dimension(categories: 100_000), 50)
        spec.inputs[0].embeddings = ["age": 4]
        XCTAssertThrowsError(try Trainer(spec: spec, table: titanic, settings: settings)) {
            XCTAssertEqual("\($0)", "model: input 'passenger' embeds 'age', which is not one of its categorical columns (sex, passengerClass)")
        }
    }
}
