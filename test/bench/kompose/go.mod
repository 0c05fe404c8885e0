// Module kompose builds kompose, the compose converter that the compose
// import benchmark runs side by side with the compiler.
module github.com/slipway-gitops/slipway/test/bench/kompose

go 1.26.0

require github.com/kubernetes/kompose v1.37.0

// kompose's own replace directive, which a dependent module must repeat.
replace github.com/openshift/api v3.9.0+incompatible => github.com/openshift/api v0.0.0-20230704153349-abb98ff04d03
