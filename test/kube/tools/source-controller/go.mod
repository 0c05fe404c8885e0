// Module source-controller builds Flux's source-controller for the test
// stack.
module github.com/slipway-gitops/slipway/test/kube/tools/source-controller

go 1.26.0

require github.com/fluxcd/source-controller v1.9.5

replace (
	github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.1
	github.com/fluxcd/source-controller/api => github.com/fluxcd/source-controller/api v1.9.5
	github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be
)
