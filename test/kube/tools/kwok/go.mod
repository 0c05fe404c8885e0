// Module kwok builds kwok, which runs fake nodes for the test stack.
module github.com/slipway-gitops/slipway/test/kube/tools/kwok

go 1.26.0

require sigs.k8s.io/kwok v0.8.0
