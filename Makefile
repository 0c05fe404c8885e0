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

.PHONY: chromium render render-self flux-bench clusters-bench kubeorch-ui canvas-e2e all build test test-short bench compose-bench scale-bench load fuzz lint fmt vet golden tools run clean kube-tools kube-up kube-down kompose act demo demo-down demo-push e2e image faults

all: lint test build

## build: compile the commands into bin/, static (without cgo: no dynamic
## loader to start, about a tenth of a short command's CPU time)
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

## faults: the fault suite alone, verbose: three service replicas on a
## three-member etcd (make kube-tools) losing one machine at a time under
## continuous deliveries; it logs failover times and refused deliveries
faults: kube-tools
	$(GO) test -count=1 -v -run '^TestFaults$$' ./test/faults

## image: the service's container image for linux/amd64 and linux/arm64, built
## without a container runtime, as an OCI layout archive
## (bin/slipway-image.tar); prints its digest, the same for the same commit
image:
	$(GO) run ./internal/ociimage/build -o bin/slipway-image.tar -ref slipway:$$(git rev-parse --short HEAD) \
		-created $$(git log -1 --format=%ct) -revision $$(git rev-parse HEAD)

## run: the webhook service on embedded defaults: a local git repository made
## from fixtures/repo in .demo/workflows, an embedded etcd in .demo/data
DEMO := $(CURDIR)/.demo
run: $(DEMO)/workflows/.git
	@echo "hooks on http://127.0.0.1:8080 (webhook secret: demo-webhook-secret); Ctrl-C stops it"
	HOOKS_SOURCE_REPO=$(DEMO)/workflows HOOKS_GITHUB_WEBHOOK_SECRET=demo-webhook-secret \
	HOOKS_DATA_DIR=$(DEMO)/data HOOKS_ADDR=127.0.0.1:8080 $(GO) run ./cmd/hooks

$(DEMO)/workflows/.git:
	mkdir -p $(DEMO)/workflows
	cp -r fixtures/repo/. $(DEMO)/workflows/
	cd $(DEMO)/workflows && git init -q -b main && git add -A && \
	  git -c user.name=Slipway -c user.email=slipway@localhost commit -q -m "Add the sample workflows"

## demo: the whole loop on this machine, in the background: the kube stack
## (make kube-tools) with Flux bootstrapped on the deploy branch of
## .demo/workflows, served over HTTP, and hooks on it on http://127.0.0.1:8080
## (webhook secret demo-webhook-secret); returns once the sample is live.
## Running it again is harmless; make demo-down stops it all.
DEMO_STATE  := $(DEMO)/run
DEMO_SECRET := demo-webhook-secret
demo: kube-tools $(DEMO)/workflows/.git
	$(GO) build -o bin/ ./cmd/hooks ./internal/kubetest/kubestack
	bin/kubestack demo --bin $(KUBE_BIN) --dir $(DEMO_STATE) --repo $(DEMO)/workflows --hooks $(CURDIR)/bin/hooks --secret $(DEMO_SECRET)

## demo-down: stop what make demo started
demo-down:
	@if [ -x bin/kubestack ]; then bin/kubestack down --dir $(DEMO_STATE); else echo "no demo is running"; fi

## demo-push: send the demo a push delivery for main of .demo/workflows,
## signed with the webhook secret as GitHub signs it
demo-push:
	@after=$$(git -C $(DEMO)/workflows rev-parse main) && \
	body='{"ref":"refs/heads/main","after":"'$$after'"}' && \
	sig=$$(printf '%s' "$$body" | openssl dgst -sha256 -hmac '$(DEMO_SECRET)' | sed 's/^.* //') && \
	echo "push of main at $$after:" && \
	curl -sS -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: demo-$$(date +%s%N)" \
	  -H "X-Hub-Signature-256: sha256=$$sig" --data "$$body" http://127.0.0.1:8080/hooks/github && echo

## render: render the sample repository into ./deploy
render:
	$(GO) run ./cmd/compiler build --source fixtures/repo --out deploy

## render-self: Slipway's own deployment, rendered by its compiler from
## config/workflow into bin/self (docs/running-in-a-cluster.md)
render-self:
	$(GO) run ./cmd/compiler build --source config/workflow --out bin/self

## test: vet and run every test with the race detector
test: tools vet
	$(GO) test -race -count=1 -timeout 30m ./...

## e2e: the end-to-end test alone, verbose: push → deploy commit → Flux →
## the status page in Chromium, a pull request's review comment, a restore;
## it logs push-to-live latency (p50, p90 over 10 pushes) and where each push's time went
e2e: tools kube-tools
	$(GO) test -count=1 -v -run '^TestEndToEnd$$' ./test/e2e

## kubeorch-ui: build KubeOrch's canvas editor (Next.js) from its source
## tarball (KUBEORCH_UI_TARBALL=path, a client kept outside this repository)
## into $(KUBEORCH_UI) for test/canvas; needs npm's registry only; 4-10 minutes
KUBEORCH_UI ?= $(CURDIR)/.tools/kubeorch-ui
kubeorch-ui:
	@test -n "$(KUBEORCH_UI_TARBALL)" || { echo "kubeorch-ui: set KUBEORCH_UI_TARBALL to KubeOrch's UI source tarball" >&2; exit 2; }
	test/canvas/buildui.sh $(KUBEORCH_UI_TARBALL) $(KUBEORCH_UI)

## canvas-e2e: KubeOrch's canvas on hooks, in headless Chromium, on the kube
## stack with Flux (the UI built by make kubeorch-ui)
canvas-e2e: tools kube-tools
	KUBEORCH_UI_DIR=$(KUBEORCH_UI) $(GO) test -count=1 -v -run '^TestCanvas$$' ./test/canvas

## test-short: run the tests without the race detector
test-short:
	$(GO) test -count=1 ./...

# Benchmarks write their trees to tmpfs where there is one, so that they
# measure the compiler rather than the disk.
BENCH_TMPDIR ?= $(shell [ -d /dev/shm ] && echo /dev/shm || echo /tmp)

## bench: run the benchmarks (BENCHCOUNT runs each, for benchstat) but
## those of make load and make scale-bench;
## BenchmarkImportVsKompose prints the compose import's time as a ratio of kompose's
bench: $(TOOLS_BIN)/kompose
	KOMPOSE=$(TOOLS_BIN)/kompose TMPDIR=$(BENCH_TMPDIR) $(GO) test -run '^$$' -bench . -skip 'BenchmarkLoad|BenchmarkScale|BenchmarkClusters|BenchmarkFluxPush' -benchmem -count $(BENCHCOUNT) ./... | tee bench.out

## compose-bench: only BenchmarkImportVsKompose: the compose import and
## kompose as whole processes, alternately, over fixtures/compose; kompose
## both as installed (on PATH, where it runs itself for every object) and
## alone (no kompose on PATH)
compose-bench: $(TOOLS_BIN)/kompose
	KOMPOSE=$(TOOLS_BIN)/kompose $(GO) test -run '^$$' -bench '^BenchmarkImportVsKompose$$' -benchtime $(or $(COMPOSEBENCHTIME),5x) ./cmd/compiler

## scale-bench: the live status at scale on the kube stack (make kube-tools):
## 100 generated workflows, 5,100 objects through Flux, watched by the real
## cmd/hooks: its memory, /api/status and / server time, object change →
## status event (SCALEBENCHTIME measurements each, default 300x)
scale-bench: kube-tools
	$(GO) test -run '^$$' -bench '^BenchmarkScale$$' -benchtime $(or $(SCALEBENCHTIME),300x) -timeout 60m ./test/scale

## clusters-bench: one cmd/hooks watching ten clusters (make kube-tools): ten
## kube-apiservers on one etcd, each with Flux, 2,040 then 10,200 watched
## objects: the service's resident memory and live heap at each, and the
## slopes per watched object
clusters-bench: kube-tools
	$(GO) test -count=1 -run '^$$' -bench '^BenchmarkClusters$$' -benchtime 1x -timeout 90m ./test/scale

## flux-bench: push → live of one changed workflow among each count of FLUX_WORKFLOWS
## (comma-separated, default 5,500) small workflows on the kube stack, one GitRepository
## for all and one per workflow (HOOKS_FLUX_WORKFLOW_SOURCES); FLUXBENCHTIME pushes each
## (default 4x). 500 per-workflow sources take most of an hour to apply first.
flux-bench: kube-tools
	$(GO) test -run '^$$' -bench '^BenchmarkFluxPush$$' -benchtime $(or $(FLUXBENCHTIME),4x) -timeout 240m ./test/scale

## load: vegeta against the real cmd/hooks process: signed pushes to a
## 100-workflow repository while it deploys, at capacity (LOAD_CONNECTIONS
## clients, default 16) and at a fixed rate (LOAD_RATE a second, default
## 1000), with and without 200 slow hostile clients (LOAD_DURATION each,
## default 10s). etcd writes to the disk of /tmp, with fsync.
## BenchmarkLoadEvents: 20,000 idle event streams (LOAD_EVENT_STREAMS) against
## the stream limit (LOAD_EVENTS_MAX_STREAMS), /healthz and signed deliveries
## meanwhile, memory per held stream.
load:
	TMPDIR=/tmp $(GO) test -run '^$$' -bench BenchmarkLoad -benchtime 1x -count $(or $(LOADCOUNT),3) -v ./hooks | grep -E '^Bench|: at [0-9]+/s|streams held'

## fuzz: run every fuzz target for FUZZTIME each. Go 1.26's fuzzing
## coordinator can fail a target with "context deadline exceeded" when
## -fuzztime ends while a worker is mid-input (golang/go#75804, fixed in Go
## 1.27): such a run that wrote no failing input passes, with a note; any
## other failure fails.
FUZZ_TARGETS := FuzzDecode:./workflow FuzzDecodeCluster:./workflow FuzzDiff:./workflow \
	FuzzParse:./workflow/plugins FuzzCompile:./compiler FuzzImport:./compose \
	FuzzReceiveBody:./hooks FuzzImportGenerated:./compose FuzzLoadErrorsLocated:./compose FuzzConfine:./compose \
	FuzzParse:./internal/jsonpos FuzzCompute:./watch FuzzParse:./kubeorch \
	FuzzRedact:./workflow FuzzRedactCredentials:./gitrepo FuzzParseAuthors:./kubeorch \
	FuzzParse:./sopsfile FuzzHandOverFields:./kubeorch FuzzLiveChanges:./review \
	FuzzFieldsV1:./watch FuzzInventory:./watch FuzzSetImage:./build FuzzMembers:./canvas \
	FuzzPullRequestRepo:./hooks
fuzz:
	@log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; corpus=$$pkg/testdata/fuzz/$$name; \
		before=$$(ls $$corpus 2>/dev/null | wc -l); \
		echo "$(GO) test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) $$pkg"; \
		if $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) $$pkg >$$log 2>&1; then cat $$log; continue; fi; \
		cat $$log; \
		after=$$(ls $$corpus 2>/dev/null | wc -l); \
		if [ "$$after" = "$$before" ] && tail -5 $$log | grep -q '^    context deadline exceeded$$'; then \
			echo "NOTE: $$name: Go's fuzzing coordinator stopped with its deadline race (golang/go#75804), no failing input: passed"; \
		else exit 1; fi; \
	done

## golden: rewrite golden files from the current output
golden:
	$(GO) test ./... -run Golden -update

## lint: gofmt, go vet and a tidy go.mod
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff

vet:
	$(GO) vet ./...

## tools: install what tests use: kustomize into .tools/bin, Chromium, GitHub's example
## webhook payloads into .tools/npm
WEBHOOK_EXAMPLES_VERSION ?= 7.6.1
OCTOKIT_OPENAPI_VERSION  ?= 23.0.2
NPM_DIR := $(CURDIR)/.tools/npm
NPM_STAMP := $(NPM_DIR)/.installed-$(WEBHOOK_EXAMPLES_VERSION)-$(OCTOKIT_OPENAPI_VERSION)
tools: $(TOOLS_BIN)/kustomize $(NPM_STAMP) chromium

# Debian's Chromium, for the status page's browser tests.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

# GitHub's example webhook payloads and its REST API description.
$(NPM_STAMP):
	mkdir -p $(NPM_DIR)
	npm install --prefix $(NPM_DIR) --no-audit --no-fund --silent @octokit/webhooks-examples@$(WEBHOOK_EXAMPLES_VERSION) @octokit/openapi@$(OCTOKIT_OPENAPI_VERSION)
	touch $@

$(TOOLS_BIN)/kustomize:
	GOBIN=$(TOOLS_BIN) GOFLAGS= $(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

## kompose: build kompose, which the compose import benchmark runs side by
## side, from the Go module proxy into .tools/bin. Its go.mod has a replace
## directive, so `go install module@version` refuses it; it is installed
## from a module of its own that pins the version instead.
KOMPOSE_MOD := $(CURDIR)/test/bench/kompose
kompose: $(TOOLS_BIN)/kompose

$(TOOLS_BIN)/kompose: $(KOMPOSE_MOD)/go.mod
	cd $(KOMPOSE_MOD) && CGO_ENABLED=0 GOBIN=$(TOOLS_BIN) GOFLAGS=-mod=mod GOWORK=off $(GO) install github.com/kubernetes/kompose
	touch $@

## act: build nektos/act, a runner of GitHub Actions workflows, into
## .tools/bin for the test that runs action.yml as GitHub's runner does
ACT_VERSION ?= v0.2.89
act: $(TOOLS_BIN)/act

$(TOOLS_BIN)/act:
	GOBIN=$(TOOLS_BIN) GOFLAGS= $(GO) install github.com/nektos/act@$(ACT_VERSION)

## kube-tools: build the test Kubernetes and Flux stack from the Go module proxy
## into .tools/kube/bin (about 11 minutes cold; seconds with the Go build cache)
KUBE_BIN   := $(CURDIR)/.tools/kube/bin
KUBE_TOOLS := $(CURDIR)/test/kube/tools
KUBE_BUILD  = cd $(KUBE_TOOLS)/$(1) && GOFLAGS=-mod=mod GOWORK=off $(GO) build -o $(KUBE_BIN)/$(3) $(2)
MODCACHE    = $(shell $(GO) env GOMODCACHE)

kube-tools: $(KUBE_BIN)/.built

$(KUBE_BIN)/.built: $(wildcard $(KUBE_TOOLS)/*/go.mod) $(TOOLS_BIN)/kustomize
	mkdir -p $(KUBE_BIN)
	$(call KUBE_BUILD,k8s,k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3,)
	mv -f $(KUBE_BIN)/server $(KUBE_BIN)/etcd
	$(call KUBE_BUILD,kwok,sigs.k8s.io/kwok/cmd/kwok,)
	$(call KUBE_BUILD,kustomize-controller,github.com/fluxcd/kustomize-controller,kustomize-controller)
	$(call KUBE_BUILD,source-controller,github.com/fluxcd/source-controller,source-controller)
	$(TOOLS_BIN)/kustomize build $(MODCACHE)/sigs.k8s.io/kwok@v0.8.0/kustomize/stage/fast > $(KUBE_BIN)/kwok-stages.yaml
	for f in $(MODCACHE)/github.com/fluxcd/source-controller@v1.9.5/config/crd/bases/*.yaml \
	         $(MODCACHE)/github.com/fluxcd/kustomize-controller@v1.9.5/config/crd/bases/*.yaml; do \
	  echo "---"; cat $$f; done > $(KUBE_BIN)/flux-crds.yaml
	touch $@

## kube-up: start the stack in the background; writes .kube-stack/kubeconfig
kube-up: kube-tools
	$(GO) build -o $(KUBE_BIN)/kubestack ./internal/kubetest/kubestack
	$(KUBE_BIN)/kubestack up --bin $(KUBE_BIN) --dir $(CURDIR)/.kube-stack

## kube-down: stop the stack kube-up started
kube-down:
	@if [ -x $(KUBE_BIN)/kubestack ]; then $(KUBE_BIN)/kubestack down --dir $(CURDIR)/.kube-stack; else echo "no stack is running"; fi

clean:
	rm -rf bin deploy .tools bench.out .kube-stack .demo
