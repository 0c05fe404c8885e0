# Slipway: GitOps compiler and webhook service.

GO        ?= go
TOOLS_BIN := $(CURDIR)/.tools/bin
export PATH := $(TOOLS_BIN):$(PATH)

KUSTOMIZE_VERSION ?= v5.8.1
FUZZTIME  ?= 20s
# New inputs are minimized for at most this long (the default, a minute,
# would take most of a short run).
FUZZMIN   ?= 3s
BENCHCOUNT ?= 5

.PHONY: all build test test-short bench fuzz lint fmt vet golden tools run clean

all: lint test build

## build: compile the commands into bin/
build:
	$(GO) build -o bin/ ./cmd/...

## run: render the sample repository into ./deploy (the quick start)
run:
	$(GO) run ./cmd/compiler build --source fixtures/repo --out deploy

## test: vet and run every test with the race detector
test: tools vet
	$(GO) test -race -count=1 ./...

## test-short: run the tests without the race detector
test-short:
	$(GO) test -count=1 ./...

# Benchmarks write their trees to tmpfs where there is one, so that they
# measure the compiler rather than the disk.
BENCH_TMPDIR ?= $(shell [ -d /dev/shm ] && echo /dev/shm || echo /tmp)

## bench: run the benchmarks (BENCHCOUNT runs each, for benchstat)
bench:
	TMPDIR=$(BENCH_TMPDIR) $(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./... | tee bench.out

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) ./workflow
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCluster$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) ./workflow
	$(GO) test -run '^$$' -fuzz '^FuzzDiff$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) ./workflow
	$(GO) test -run '^$$' -fuzz '^FuzzCompile$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) ./compiler
	$(GO) test -run '^$$' -fuzz '^FuzzImport$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) ./compose

## golden: rewrite golden files from the current output
golden:
	$(GO) test ./... -run Golden -update

## lint: gofmt, go vet and a tidy go.mod
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff

vet:
	$(GO) vet ./...

## tools: install the command-line tools tests use (kustomize) into .tools/bin
tools: $(TOOLS_BIN)/kustomize

$(TOOLS_BIN)/kustomize:
	GOBIN=$(TOOLS_BIN) GOFLAGS= $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

clean:
	rm -rf bin deploy .tools bench.out
