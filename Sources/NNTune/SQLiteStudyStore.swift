import Foundation
import GRDB

/// A study in one SQLite file (through GRDB), queryable with `sqlite3 study.db`:
///
///     SELECT generation, member, value FROM member ORDER BY value DESC LIMIT 5;
///     SELECT generation, value FROM hyperparameter WHERE member = 3 AND name = 'learning_rate';
///
/// Tables: `study` (one row: the definition, as JSON and in columns), `generation` (best of
/// each), `member` (value, replaced_by), `hyperparameter` and `metric` (one row per name).
public final class SQLiteStudyStore: StudyStore {
    public let path: String
    public var location: String { path }
    private let database: DatabaseQueue

    public init(path: String) throws(TuneError) {
        self.path = path
        do {
            var configuration = Configuration()
            // `sqlite3 study.db` may read while a generation commits: wait for its lock
            // instead of failing the study (a reader holding it made a commit throw).
            configuration.busyMode = .timeout(30)
            database = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw .database(path: path, detail: "cannot open the study database: \(error)")
        }
    }

    /// A new study's database, written whole or not at all: built beside `path` with its
    /// definition, then renamed into place. A study killed in its first moments used to leave
    /// a database with tables and no study in it, which `--resume` could only refuse.
    public static func create(path: String, definition: StudyDefinition) throws(TuneError) -> SQLiteStudyStore {
        let partial = path + ".partial"
        for leftover in [partial, partial + "-wal", partial + "-shm", partial + "-journal"] { try? FileManager.default.removeItem(atPath: leftover) }
        try SQLiteStudyStore(path: partial).create(definition)
        guard rename(partial, path) == 0 else {
            throw .database(path: path, detail: "cannot move the new study into place: \(String(cString: strerror(errno)))")
        }
        return try SQLiteStudyStore(path: path)
    }

    /// Deletes a study's database (and its WAL files) and, when given, its member directory.
    public static func remove(path: String, members: String?) {
        for file in [path, path + "-wal", path + "-shm", path + "-journal"] + (members.map { [$0] } ?? []) {
            try? FileManager.default.removeItem(atPath: file)
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("study v1") { db in
            try db.execute(sql: """
                CREATE TABLE study (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    algorithm TEXT NOT NULL, population INTEGER NOT NULL, generations INTEGER NOT NULL,
                    epochs_per_generation INTEGER NOT NULL, monitor TEXT NOT NULL, seed TEXT NOT NULL,
                    model_file TEXT NOT NULL, space_file TEXT NOT NULL, data_file TEXT NOT NULL,
                    definition TEXT NOT NULL, created_at TEXT NOT NULL);
                CREATE TABLE generation (
                    generation INTEGER PRIMARY KEY, best_member INTEGER, best_value REAL, committed_at TEXT NOT NULL);
                CREATE TABLE member (
                    generation INTEGER NOT NULL REFERENCES generation(generation), member INTEGER NOT NULL,
                    value REAL, replaced_by INTEGER, PRIMARY KEY (generation, member));
                CREATE TABLE hyperparameter (
                    generation INTEGER NOT NULL, member INTEGER NOT NULL, name TEXT NOT NULL, value REAL, text TEXT,
                    PRIMARY KEY (generation, member, name), FOREIGN KEY (generation, member) REFERENCES member(generation, member));
                CREATE TABLE metric (
                    generation INTEGER NOT NULL, member INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
                    PRIMARY KEY (generation, member, name), FOREIGN KEY (generation, member) REFERENCES member(generation, member));
                """)
        }
        // nntrain prints generations from 1 ("generation 3/10"), the tables key them from 0 (as
        // the member files g0/, g1/ are named): the number the screen shows sits beside the key.
        // Views, not generated columns: any sqlite3 a user queries with reads them.
        migrator.registerMigration("study v2: generation numbers as printed") { db in
            try db.execute(sql: """
                CREATE VIEW generation_numbered AS SELECT *, generation + 1 AS generation_number FROM generation;
                CREATE VIEW member_numbered AS SELECT *, generation + 1 AS generation_number FROM member;
                """)
        }
        return migrator
    }

    public func definition() throws(TuneError) -> StudyDefinition? {
        let json: String?
        do {
            json = try database.read { db in try String.fetchOne(db, sql: "SELECT definition FROM study WHERE id = 1") }
        } catch {
            throw .database(path: path, detail: "cannot read the study: \(error)")
        }
        guard let json else { return nil }
        do {
            return try JSONDecoder().decode(StudyDefinition.self, from: Data(json.utf8))
        } catch {
            throw .database(path: path, detail: "the study's definition does not decode: \(error)")
        }
    }

    public func create(_ definition: StudyDefinition) throws(TuneError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            let json = String(decoding: try encoder.encode(definition), as: UTF8.self)
            try database.write { db in
                try db.execute(sql: """
                    INSERT INTO study (id, algorithm, population, generations, epochs_per_generation, monitor, seed,
                                       model_file, space_file, data_file, definition, created_at)
                    VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, datetime('now'))
                    """, arguments: [definition.algorithm.rawValue, definition.population, definition.generations,
                                     definition.epochsPerGeneration, definition.monitor, String(definition.seed),
                                     definition.modelFile, definition.spaceFile, definition.dataFile, json])
            }
        } catch {
            throw .database(path: path, detail: "cannot create the study: \(error)")
        }
    }

    public func commit(_ members: [MemberRecord]) throws(TuneError) {
        guard let generation = members.first?.generation else { return }
        do {
            try database.write { db in
                let monitor = try String.fetchOne(db, sql: "SELECT monitor FROM study WHERE id = 1") ?? "val_loss"
                let best = Ranking.best(members, monitor: monitor)
                try db.execute(sql: "INSERT INTO generation (generation, best_member, best_value, committed_at) VALUES (?, ?, ?, datetime('now'))",
                               arguments: [generation, best?.member, best?.value])
                for record in members {
                    try db.execute(sql: "INSERT INTO member (generation, member, value, replaced_by) VALUES (?, ?, ?, ?)",
                                   arguments: [record.generation, record.member, record.value, record.replacedBy])
                    for (name, value) in record.hyperparameters.sorted(by: { $0.key < $1.key }) {
                        try db.execute(sql: "INSERT INTO hyperparameter (generation, member, name, value, text) VALUES (?, ?, ?, ?, ?)",
                                       arguments: [record.generation, record.member, name, value.number, value.text])
                    }
                    for (name, value) in record.metrics.sorted(by: { $0.key < $1.key }) where value.isFinite {
                        try db.execute(sql: "INSERT INTO metric (generation, member, name, value) VALUES (?, ?, ?, ?)",
                                       arguments: [record.generation, record.member, name, value])
                    }
                }
            }
        } catch {
            throw .database(path: path, detail: "cannot commit generation \(generation): \(error)")
        }
    }

    public func members() throws(TuneError) -> [MemberRecord] {
        do {
            return try database.read { db in
                var records: [MemberRecord] = []
                var index: [[Int]: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT generation, member, value, replaced_by FROM member ORDER BY generation, member") {
                    index[[row["generation"], row["member"]]] = records.count
                    records.append(MemberRecord(generation: row["generation"], member: row["member"], hyperparameters: [:], metrics: [:],
                                                value: row["value"], replacedBy: row["replaced_by"]))
                }
                for row in try Row.fetchAll(db, sql: "SELECT generation, member, name, value, text FROM hyperparameter") {
                    guard let position = index[[row["generation"], row["member"]]] else { continue }
                    let text: String? = row["text"]
                    let number: Double? = row["value"]
                    records[position].hyperparameters[row["name"]] = text.map(HyperValue.text) ?? number.map(HyperValue.number)
                }
                for row in try Row.fetchAll(db, sql: "SELECT generation, member, name, value FROM metric") {
                    guard let position = index[[row["generation"], row["member"]]] else { continue }
                    records[position].metrics[row["name"]] = row["value"]
                }
                return records
            }
        } catch {
            throw .database(path: path, detail: "cannot read the members: \(error)")
        }
    }
}
