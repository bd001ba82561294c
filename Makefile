# nnserve: the two commands a new user needs are `make serve` and `make test`.
# Both install missing system packages first (ops/setup.sh) and build what they run.

SWIFT ?= swift

.PHONY: setup build test test-tsan test-asan test-python ops-check fuzz soak serve proto clean models bench-kernels bench-onnx bench-crossover bench-sizes bench-train bench-lr bench-tune bench-serve bench-http bench-protocols bench-many-models studies

setup:
	@bash ops/setup.sh

build: setup
	$(SWIFT) build

## serve: install what is missing, build release (nnserve, and nnclient for the README's
## examples), serve the bundled models on loopback.
serve: setup
	$(SWIFT) build -c release --product nnserve
	$(SWIFT) build -c release --product nnclient
	.build/release/nnserve models/ --host 127.0.0.1 --port 8500 --http-port 8000

## test: install what is missing, build, and run every test (XCTest, then the pytest suite).
test: setup
	bash ops/check-imports.sh
	$(SWIFT) build --build-tests
	$(SWIFT) test --disable-swift-testing
	bash ops/test-python.sh

## ops-check: validate ops/ (Dockerfile, Kubernetes and KServe manifests, systemd unit,
## Prometheus config, alert rules and their tests, Grafana dashboard) offline; CI runs it.
ops-check: setup
	$(SWIFT) build --product nnserve
	$(SWIFT) build --product nnclient
	bash ops/ops-check.sh

## fuzz: every parser under libFuzzer + AddressSanitizer for FUZZ_SECONDS each (default 60);
## FUZZ_TARGETS="wire http" picks some. Seeds: Fuzz/corpus; findings: .build-fuzz/crashes.
fuzz: setup
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} bash ops/fuzz.sh $(FUZZ_TARGETS)

## test-tsan: the server, batcher and parallel executor tests under ThreadSanitizer (.build-tsan);
## fails on any report of the test runner or of a server it started. TSAN_FILTER picks tests.
test-tsan: setup
	bash ops/test-sanitized.sh thread $(TSAN_FILTER)

## test-asan: the whole XCTest suite under AddressSanitizer (.build-asan), servers included.
test-asan: setup
	bash ops/test-sanitized.sh address $(ASAN_FILTER)

## soak: ten minutes at saturation with a version published every 3 s and malformed requests
## beside the load; RSS, descriptors and p99 per window (SOAK_FLAGS="--duration 60" for less).
soak: setup
	$(SWIFT) build -c release --product nnserve
	$(SWIFT) build -c release --product nnclient
	python3 ops/soak.py $(SOAK_FLAGS)

## test-python: the pytest suite of the HTTP front against the debug nnserve.
test-python: setup
	$(SWIFT) build --product nnserve
	bash ops/test-python.sh

## models: retrain and re-export the bundled models from their recipes (models/*/recipe/train.sh).
models: setup
	$(SWIFT) build -c release --product nntrain
	$(SWIFT) build -c release --product nnexport
	for recipe in models/*/recipe/train.sh; do bash "$$recipe" || exit 1; done

## studies: rerun the studies that answer the practice's open questions with data (studies/s*.py;
## STUDIES="s1 s4" picks some) with the release nntrain, and rebuild docs/STUDIES.md from them.
studies: setup
	$(SWIFT) build -c release --product nntrain
	bash studies/run_all.sh

## proto: regenerate Sources/NNFormat/Generated from proto/ (commit the result).
proto: setup
	bash ops/gen-proto.sh

clean:
	rm -rf .build

## bench-kernels: inference time of M1-M4 against the GEMM floor and ONNX Runtime (release build).
## BENCH_FLAGS=--json prints one JSON object per model and batch.
bench-kernels: setup
	$(SWIFT) build -c release --product nnbench
	.build/release/nnbench kernels $(BENCH_FLAGS)

## bench-onnx: the ONNX fixtures (PyTorch, scikit-learn, onnx.helper exports) imported by nnserve
## against ONNX Runtime on the same files, 1 thread, batches 1/8/64/256 (release build).
bench-onnx: setup
	$(SWIFT) build -c release --product nnbench
	.build/release/nnbench onnx Tests/NNOnnxTests/Fixtures/*.onnx $(BENCH_FLAGS)

## bench-crossover: our tiled Dense kernel vs OpenBLAS sgemm per layer shape and row count
## (the evidence that serving needs no sgemm; only nnbench links OpenBLAS).
bench-crossover: setup
	$(SWIFT) build -c release --product nnbench
	.build/release/nnbench crossover $(BENCH_FLAGS)

## bench-train: training samples/s of M1-M4 at 1 and 2 threads against PyTorch (anchor figures).
bench-train: setup
	$(SWIFT) build -c release --product nnbench
	.build/release/nnbench train $(BENCH_FLAGS)

## bench-lr: `nntrain fit --lr auto` against a grid of rates (half-decades 1e-4…1, 10 seeds) on ten
## problems; prints the table docs/TRAINING.md keeps (BENCH_FLAGS="--only digits --seeds 3" for less).
bench-lr: setup
	$(SWIFT) build -c release --product nntrain
	python3 ops/bench-lr.py $(BENCH_FLAGS)

## bench-tune: PBT vs random search vs the example defaults at an equal epoch budget, 3 seeds,
## and a study's wall time at 1 and 2 workers (docs/TUNING.md).
bench-tune: setup
	$(SWIFT) build -c release --product nntrain
	python3 ops/bench-tune.py $(BENCH_FLAGS)

## bench-serve: nnserve + nnclient bench on M1/M2 at concurrency 1, 16, 64 (and M2 without batching).
bench-serve: setup
	bash ops/bench-serve.sh

## bench-many-models: 10,000 models under --memory-budget: startup, first-request latency of a
## never-loaded and an evicted model, RSS against the budget (docs/BENCHMARKS.md).
bench-many-models: setup
	$(SWIFT) build -c release --product nnserve
	python3 ops/bench-many-models.py $(BENCH_FLAGS)

## bench-protocols: binary vs gRPC vs HTTP on one server, M1/M2 at concurrency 1, 16, 64 (needs wrk).
bench-protocols: setup
	bash ops/bench-protocols.sh

## bench-http: the HTTP front under wrk, measured like the Python serving anchor (needs wrk).
bench-http: setup
	bash ops/bench-http.sh

## bench-sizes: model file size under each storage choice.
bench-sizes: setup
	$(SWIFT) build -c release --product nnbench
	.build/release/nnbench container-sizes
