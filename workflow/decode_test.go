package workflow

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/slipway-gitops/slipway/internal/testutil"
)

func TestDecodeFixtures(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("../fixtures/repo/workflows")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		file := "workflows/" + e.Name()
		b, err := os.ReadFile("../fixtures/repo/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(file, b); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	// Node indexes of shop.json: 0 ingress-1, 1 svc-web, 2 svc-api, 3 web,
	// 4 api, 5 cm-web, 6 cm-api, 7 secret-api, 8 pvc-uploads, 9 hpa-api,
	// 10 np-api. Edges e1..e10 are at 0..9.
	// Node indexes of batch.json: 0 migrate, 1 report, 2 agent, 3 cm-report,
	// 4 pvc-work, 5 tls, 6 cert, 7 np-batch.
	tests := []struct {
		name    string
		base    string
		raw     string // replaces the whole file when set
		patches []testutil.Patch
		want    []string
		secret  string // must not appear in any message
	}{
		{name: "syntax", raw: "{\n  \"name\": \"shop\",\n  \"status\": }", want: []string{`workflows/shop.json: invalid JSON: line 3, column 13`}},
		{name: "not an object", raw: `[1, 2]`, want: []string{`workflows/shop.json: must be a JSON object, not an array`}},
		{name: "trailing data", raw: `{"name":"shop","status":"draft","nodes":[],"edges":[]} {}`, want: []string{`unexpected data after the top-level value`}},
		{name: "unknown top-level field", patches: []testutil.Patch{testutil.Set("/owner_id", "u1")}, want: []string{`workflows/shop.json: /owner_id: unknown field "owner_id"`}},
		{name: "name differs from file", patches: []testutil.Patch{testutil.Set("/name", "other")}, want: []string{`/name: "other" must equal the file name "shop"`}},
		{name: "bad status", patches: []testutil.Patch{testutil.Set("/status", "live")}, want: []string{`/status: "live" must be draft, published or archived`}},
		{name: "missing nodes", patches: []testutil.Patch{testutil.Del("/nodes"), testutil.Set("/edges", []any{})}, want: []string{`/nodes: is required`}},
		{name: "unknown node type", patches: []testutil.Patch{testutil.Set("/nodes/3/type", "pod")}, want: []string{`/nodes/3/type: unknown node type "pod"; want one of deployment, service`}},
		{name: "duplicate node id", patches: []testutil.Patch{testutil.Set("/nodes/4/id", "web")}, want: []string{`/nodes/4/id: duplicate node id; also used by /nodes/3 (node "web")`}},
		{name: "port out of range", patches: []testutil.Patch{testutil.Set("/nodes/4/data/port", 70000)}, want: []string{`workflows/shop.json: /nodes/4/data/port: must be 1..65535, not 70000 (node "api")`}},
		{name: "port as a word", patches: []testutil.Patch{testutil.Set("/nodes/4/data/port", "http")}, want: []string{`/nodes/4/data/port: must be a whole number, not a string (node "api")`}},
		{name: "unknown field with a hint", patches: []testutil.Patch{testutil.Set("/nodes/3/data/replcas", 2)}, want: []string{`/nodes/3/data/replcas: unknown field "replcas"; did you mean "replicas"? (node "web")`}},
		{name: "fractional replicas", patches: []testutil.Patch{testutil.Set("/nodes/3/data/replicas", 1.5)}, want: []string{`/nodes/3/data/replicas: must be a whole number, not 1.5 (node "web")`}},
		{name: "negative replicas", patches: []testutil.Patch{testutil.Set("/nodes/3/data/replicas", -1)}, want: []string{`/nodes/3/data/replicas: must be 0 or more, not -1`}},
		{name: "unknown node field", patches: []testutil.Patch{testutil.Set("/nodes/3/data/replicaCount", 2)}, want: []string{`/nodes/3/data/replicaCount: unknown field "replicaCount" (node "web")`}},
		{name: "name not DNS-1123", patches: []testutil.Patch{testutil.Set("/nodes/3/data/name", "Web_App")}, want: []string{`/nodes/3/data/name: "Web_App" is invalid: a lowercase RFC 1123 label`}},
		{name: "service name not DNS-1035", patches: []testutil.Patch{testutil.Set("/nodes/1/data/name", "1web")}, want: []string{`/nodes/1/data/name: "1web" is invalid: a DNS-1035 label`}},
		{name: "duplicate name per kind", patches: []testutil.Patch{testutil.Set("/nodes/2/data/name", "web")}, want: []string{`/nodes/2/data/name: service name "web" is already used by node "svc-web"`}},
		{name: "bad label key", patches: []testutil.Patch{testutil.Set("/nodes/3/data/labels", map[string]any{"bad key!": "x"})}, want: []string{`/nodes/3/data/labels/bad key!: label key "bad key!" is invalid`}},
		{name: "bad label value", patches: []testutil.Patch{testutil.Set("/nodes/3/data/labels", map[string]any{"tier": "front end"})}, want: []string{`/nodes/3/data/labels/tier: label value "front end" is invalid`}},
		{name: "reserved label", patches: []testutil.Patch{testutil.Set("/nodes/3/data/labels", map[string]any{"app.kubernetes.io/name": "x"})}, want: []string{`/nodes/3/data/labels/app.kubernetes.io~1name: label "app.kubernetes.io/name" is set by slipway and cannot be overridden`}},
		{name: "bad image", patches: []testutil.Patch{testutil.Set("/nodes/3/data/image", "Nginx:Latest!")}, want: []string{`/nodes/3/data/image: "Nginx:Latest!" is not a valid image reference`}},
		{name: "missing image", patches: []testutil.Patch{testutil.Del("/nodes/3/data/image")}, want: []string{`/nodes/3/data/image: is required (node "web")`}},
		{name: "dangling edge", patches: []testutil.Patch{testutil.Set("/edges/0/target", "nope")}, want: []string{`/edges/0/target: names node "nope", which does not exist`}},
		{name: "self edge", patches: []testutil.Patch{testutil.Set("/edges/2/source", "web")}, want: []string{`/edges/2: edge "e3" links node "web" to itself`}},
		{name: "incompatible kinds", patches: []testutil.Patch{testutil.Set("/edges/4/target", "pvc-uploads")}, want: []string{`/edges/4: edge "e5" cannot link a configmap (node "cm-web") to a persistentvolumeclaim (node "pvc-uploads")`}},
		{name: "duplicate edge", patches: []testutil.Patch{testutil.Set("/edges/3", map[string]any{"id": "e4", "source": "svc-web", "target": "web"})}, want: []string{`/edges/3: edge "e4" repeats /edges/2`}},
		{name: "targetApp contradicts edge", patches: []testutil.Patch{testutil.Set("/nodes/1/data/targetApp", "api")}, want: []string{`/nodes/1/data/targetApp: "api" contradicts the edge to deployment "web" (node "svc-web")`}},
		{name: "serviceName contradicts edge", patches: []testutil.Patch{testutil.Set("/nodes/0/data/paths/0/serviceName", "api")}, want: []string{`/nodes/0/data/paths/0/serviceName: "api" contradicts the edge to service "web"`}},
		{name: "volumeMount without edge", patches: []testutil.Patch{testutil.Set("/edges/4/source", "secret-api"), testutil.Set("/edges/4/target", "web")}, want: []string{`/nodes/3/data/volumeMounts/0/nodeId: names node "cm-web" but no edge links it to this deployment`, `/nodes/3/data/_linkedConfigMaps/0: names node "cm-web" but no edge links a configmap`}},
		{name: "scale target contradicts edge", patches: []testutil.Patch{testutil.Set("/nodes/9/data/scaleTargetName", "web")}, want: []string{`/nodes/9/data/scaleTargetName: "web" contradicts the edge to deployment "api"`}},
		{name: "hpa without edge", patches: []testutil.Patch{testutil.Set("/edges/8/target", "web"), testutil.Del("/nodes/9/data/scaleTargetName"), testutil.Set("/edges/8/source", "svc-api")}, want: []string{`/nodes/9/data: hpa "api" scales nothing`, `/edges/8: service "api" already selects node "api"`}},
		{name: "hpa min above max", patches: []testutil.Patch{testutil.Set("/nodes/9/data/minReplicas", 20)}, want: []string{`/nodes/9/data/minReplicas: 20 exceeds maxReplicas 12`}},
		{name: "mount path collision", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/1/mountPath", "/var/uploads")}, want: []string{`/nodes/4/data/volumeMounts/1/mountPath: "/var/uploads" is also used at /nodes/4/data/volumeMounts/0/mountPath`}},
		{name: "relative mount path", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/0/mountPath", "uploads")}, want: []string{`/nodes/4/data/volumeMounts/0/mountPath: "uploads" must be an absolute path`}},
		{name: "emptyDir naming a node", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "tmp", "mountPath": "/tmp", "nodeId": "cm-api"})}, want: []string{`/nodes/4/data/volumeMounts/2/nodeId: names node "cm-api", but an emptyDir volume links no node: drop nodeId`}},
		{name: "emptyDir without a name", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "mountPath": "/tmp"})}, want: []string{`/nodes/4/data/volumeMounts/2/name: is required for an emptyDir volume`}},
		{name: "emptyDir name not DNS-1123", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "Tmp", "mountPath": "/tmp"})}, want: []string{`/nodes/4/data/volumeMounts/2/name: "Tmp" is invalid: a lowercase RFC 1123 label`}},
		{name: "emptyDir named like a linked node's volume", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "pvc-uploads", "mountPath": "/tmp"})}, want: []string{`/nodes/4/data/volumeMounts/2/name: "pvc-uploads" begins with "pvc-", as the volumes of linked nodes are named`}},
		{name: "emptyDir name twice", patches: []testutil.Patch{testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "tmp", "mountPath": "/tmp"}), testutil.Set("/nodes/4/data/volumeMounts/-", map[string]any{"type": "emptyDir", "name": "tmp", "mountPath": "/cache"})}, want: []string{`/nodes/4/data/volumeMounts/3/name: "tmp" also names the emptyDir volume at /nodes/4/data/volumeMounts/2/name`}},
		{name: "emptyDir named like a volume claim template", base: "database", patches: []testutil.Patch{testutil.Set("/nodes/0/data/volumeMounts", []any{map[string]any{"type": "emptyDir", "name": "data", "mountPath": "/tmp"}})}, want: []string{`/nodes/0/data/volumeMounts/0/name: "data" also names the volume claim template at /nodes/0/data/volumeClaimTemplates/0`}},
		{name: "emptyDir at a linked node's path", patches: []testutil.Patch{testutil.Del("/nodes/3/data/volumeMounts"), testutil.Del("/nodes/3/data/_linkedConfigMaps"), testutil.Set("/nodes/3/data/volumeMounts", []any{map[string]any{"type": "emptyDir", "name": "config", "mountPath": DefaultConfigMountPath}})}, want: []string{`/edges/4: mounts configmap "web-config" at "` + DefaultConfigMountPath + `", which /nodes/3/data/volumeMounts/0 already uses`}},
		{name: "secret values in data", patches: []testutil.Patch{testutil.Set("/nodes/7/data/data", map[string]any{"stripe": "sk_live_abc123"})}, secret: "sk_live_abc123", want: []string{`/nodes/7/data/data: secret values must not be stored in git`}},
		{name: "secret value in keys", patches: []testutil.Patch{testutil.Set("/nodes/7/data/keys/0/value", "sk_live_abc123")}, secret: "sk_live_abc123", want: []string{`/nodes/7/data/keys/0/value: secret values must not be stored in git`}},
		{name: "credential in env", patches: []testutil.Patch{testutil.Set("/nodes/4/data/env/DB_PASSWORD", "hunter2")}, secret: "hunter2", want: []string{`/nodes/4/data/env/DB_PASSWORD: "DB_PASSWORD" looks like a credential`}},
		{name: "password in URL", patches: []testutil.Patch{testutil.Set("/nodes/4/data/env/DATABASE_URL", "postgres://app:hunter2@db:5432/shop")}, secret: "hunter2", want: []string{`/nodes/4/data/env/DATABASE_URL: "DATABASE_URL" holds a URL with a password`}},
		{name: "private key in configmap", patches: []testutil.Patch{testutil.Set("/nodes/5/data/data/key.pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----")}, secret: "MIIE", want: []string{`/nodes/5/data/data/key.pem: "key.pem" holds a private key`}},
		{name: "env value not a string", patches: []testutil.Patch{testutil.Set("/nodes/4/data/env/PORT", true)}, want: []string{`/nodes/4/data/env/PORT: must be a string, not a boolean (true)`}},
		{name: "secret key not declared", patches: []testutil.Patch{testutil.Set("/nodes/4/data/envKeys/1/secretKeyRef/key", "nope")}, want: []string{`/nodes/4/data/envKeys/1/secretKeyRef/key: secret "api-keys" (node "secret-api") has no key "nope"; it has "stripe", "sendgrid"`}},
		{name: "env entry with two sources", patches: []testutil.Patch{testutil.Set("/nodes/4/data/envKeys/3/configMapKeyRef", map[string]any{"name": "api-config", "key": "theme"})}, want: []string{`/nodes/4/data/envKeys/3: needs at most one of value, secretKeyRef and configMapKeyRef, not 2`}},
		{name: "bad quantity", patches: []testutil.Patch{testutil.Set("/nodes/3/data/resources/limits/memory", "lots")}, want: []string{`/nodes/3/data/resources/limits/memory: "lots" is not a quantity`}},
		{name: "request above limit", patches: []testutil.Patch{testutil.Set("/nodes/3/data/resources/requests/cpu", "2")}, want: []string{`/nodes/3/data/resources/requests/cpu: request 2 exceeds the limit 500m`}},
		{name: "ingress path not absolute", patches: []testutil.Patch{testutil.Set("/nodes/0/data/paths/1/path", "api")}, want: []string{`/nodes/0/data/paths/1/path: "api" must start with /`}},
		{name: "ingress tls without secret", patches: []testutil.Patch{testutil.Del("/nodes/0/data/tlsSecretName")}, want: []string{`/nodes/0/data/tlsSecretName: is required when tlsEnabled is true`}},
		{name: "unknown ingress path handle", patches: []testutil.Patch{testutil.Set("/edges/1/sourceHandle", "nope")}, want: []string{`/edges/1: names ingress path "nope", which does not exist`}},
		{name: "bad cidr", patches: []testutil.Patch{testutil.Set("/nodes/10/data/ingressRules/1/peers/0/ipBlock/cidr", "10.0.0.0/33")}, want: []string{`/nodes/10/data/ingressRules/1/peers/0/ipBlock/cidr: "10.0.0.0/33" is not a CIDR`}},
		{name: "pvc without access modes", patches: []testutil.Patch{testutil.Set("/nodes/8/data/accessModes", []any{})}, want: []string{`/nodes/8/data/accessModes: needs at least one access mode`}},
		{name: "service without port or link", patches: []testutil.Patch{testutil.Set("/edges/2/target", "hpa-api")}, want: []string{`/edges/2: edge "e3" cannot link a service (node "svc-web") to a hpa (node "hpa-api")`}},
		{name: "bad cron schedule", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/1/data/schedule", "61 * * * *")}, want: []string{`/nodes/1/data/schedule: "61 * * * *" is not a cron schedule`}},
		{name: "cron schedule with time zone", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/1/data/schedule", "TZ=UTC 0 2 * * *")}, want: []string{`/nodes/1/data/schedule: "TZ=UTC 0 2 * * *" must not set a time zone; use timeZone`}},
		{name: "cronjob name too long", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/1/data/name", strings.Repeat("a", 53))}, want: []string{`a cronjob name may have at most 52`}},
		{name: "negative backoffLimit", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/0/data/backoffLimit", -1)}, want: []string{`/nodes/0/data/backoffLimit: must be 0 or more, not -1 (node "migrate")`}},
		{name: "bad restart policy", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/0/data/restartPolicy", "Always")}, want: []string{`/nodes/0/data/restartPolicy: "Always" must be one of Never, OnFailure`}},
		{name: "toleration Exists with value", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/2/data/tolerations/0/value", "x")}, want: []string{`/nodes/2/data/tolerations/0/value: must be empty when operator is Exists`}},
		{name: "bad maxUnavailable", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/2/data/maxUnavailable", "lots")}, want: []string{`/nodes/2/data/maxUnavailable: "lots" must be a count`}},
		{name: "tls secret without keys", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/5/data/keys", []any{})}, want: []string{`/nodes/5/data/keys: a kubernetes.io/tls secret needs the key "tls.crt"`}},
		{name: "plugin select outside options", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/privateKey.algorithm", "DSA")}, want: []string{`/nodes/6/data/privateKey.algorithm: "DSA" is not one of the options "RSA", "ECDSA", "Ed25519"`}},
		{name: "plugin list field as string", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/dnsNames", "batch.example.com")}, want: []string{`/nodes/6/data/dnsNames: must be a list, not a string`}},
		{name: "plugin object field as list", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/issuerRef", []any{"selfsigned"})}, want: []string{`/nodes/6/data/issuerRef: must be an object, not an array`}},
		{name: "credential in a plugin object", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/issuerRef/server", "https://app:hunter2@vault.example.com")}, secret: "hunter2", want: []string{`/nodes/6/data/issuerRef/server: "server" holds a URL with a password`}},
		{name: "plugin required field missing", base: "batch", patches: []testutil.Patch{testutil.Del("/nodes/6/data/secretName")}, want: []string{`/nodes/6/data/secretName: is required by the plugin field "secretName"`}},
		{name: "plugin number field as a word", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/revisionHistoryLimit", "two")}, want: []string{`/nodes/6/data/revisionHistoryLimit: must be a number, not a string`}},
		{name: "plugin undeclared value", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/spec", map[string]any{})}, want: []string{`/nodes/6/data/spec: unknown field "spec"`}},
		{name: "plugin renders a Secret", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/6/data/kind", "Secret"), testutil.Set("/nodes/6/data/apiVersion", "v1")}, want: []string{`/nodes/6/data/kind: a plugin cannot render a Secret`}},
		{name: "plugin name twice for one kind", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/-", map[string]any{"id": "cert2", "type": "plugin", "position": map[string]any{"x": 0, "y": 0},
			"data": map[string]any{"name": "batch-tls", "apiVersion": "cert-manager.io/v1", "kind": "Certificate"}})}, want: []string{`/nodes/8/data/name: Certificate name "batch-tls" is already used by node "cert"`}},
		{name: "workload names clash across kinds", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/2/data/name", "migrate")}, want: []string{`/nodes/2/data/name: workload name "migrate" is already used by job node "migrate"`}},
		{name: "wait for a workload without a service", base: "batch", patches: []testutil.Patch{testutil.Set("/edges/-", map[string]any{"id": "w", "source": "migrate", "target": "report"})}, want: []string{`/edges/5: job "migrate" waits for cronjob "nightly-report", which has no service with a port to wait on`}},
		{name: "workloads waiting in a cycle", patches: []testutil.Patch{testutil.Set("/edges/-", map[string]any{"id": "w1", "source": "web", "target": "api"}), testutil.Set("/edges/-", map[string]any{"id": "w2", "source": "api", "target": "web"})}, want: []string{`workloads wait for each other in a cycle; none would start`}},
		{name: "namespace of Kubernetes", patches: []testutil.Patch{testutil.Set("/namespace", "kube-system")}, want: []string{`workflows/shop.json: /namespace: namespace "kube-system" belongs to Kubernetes or Flux`}},
		{name: "namespace of Flux", patches: []testutil.Patch{testutil.Set("/namespace", "flux-system")}, want: []string{`/namespace: namespace "flux-system" belongs to Kubernetes or Flux`}},
		{name: "job with a TTL", base: "batch", patches: []testutil.Patch{testutil.Set("/nodes/0/data/ttlSecondsAfterFinished", 0)}, want: []string{`workflows/batch.json: /nodes/0/data/ttlSecondsAfterFinished: a job Flux applies is deleted by its TTL and created again by the next reconciliation (node "migrate")`[:100]}},
		{name: "networkpolicy selecting nothing", patches: []testutil.Patch{testutil.Set("/edges/9", map[string]any{"id": "e10", "source": "secret-api", "target": "web", "targetHandle": "envFrom"})}, want: []string{`/nodes/10/data: networkpolicy "api-ingress" selects no workload and would apply to every pod of the namespace`}},
		{name: "flux timeout not a duration", patches: []testutil.Patch{testutil.Set("/flux", map[string]any{"timeout": "ten minutes"})}, want: []string{`workflows/shop.json: /flux/timeout: "ten minutes" is not a positive duration`}},
		{name: "flux dependency listed twice", patches: []testutil.Patch{testutil.Set("/flux", map[string]any{"dependsOn": []any{map[string]any{"name": "cert-manager"}, map[string]any{"name": "cert-manager"}}})}, want: []string{`/flux/dependsOn/1: "cert-manager" is listed twice`}},
		{name: "root with runAsNonRoot", patches: []testutil.Patch{testutil.Set("/nodes/3/data/podSecurityContext", map[string]any{"runAsNonRoot": true, "runAsUser": 0})}, want: []string{`/nodes/3/data/podSecurityContext/runAsUser: is 0 (root) but runAsNonRoot is true (node "web")`}},
		{name: "localhost seccomp without profile", patches: []testutil.Patch{testutil.Set("/nodes/3/data/securityContext", map[string]any{"seccompProfile": map[string]any{"type": "Localhost"}})}, want: []string{`/nodes/3/data/securityContext/seccompProfile/localhostProfile: is required when type is Localhost`}},
		{name: "bad capability", patches: []testutil.Patch{testutil.Set("/nodes/3/data/securityContext", map[string]any{"capabilities": map[string]any{"drop": []any{"all"}}})}, want: []string{`/nodes/3/data/securityContext/capabilities/drop/0: "all" is not a capability name`}},
		{name: "dependsOn itself", patches: []testutil.Patch{testutil.Set("/dependsOn", []any{"shop"})}, want: []string{`/dependsOn/0: a workflow cannot depend on itself`}},
		{name: "several problems at once", patches: []testutil.Patch{testutil.Set("/nodes/4/data/port", 0.5), testutil.Set("/nodes/3/data/replicas", -2), testutil.Set("/edges/0/target", "gone")}, want: []string{
			`/nodes/3/data/replicas: must be 0 or more, not -2`,
			`/nodes/4/data/port: must be a whole number, not 0.5`,
			`/edges/0/target: names node "gone", which does not exist`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := tt.base
			if base == "" {
				base = "shop"
			}
			data := []byte(tt.raw)
			if tt.raw == "" {
				doc := testutil.LoadJSON(t, "../fixtures/repo/workflows/"+base+".json")
				data = testutil.Marshal(t, testutil.Apply(t, doc, tt.patches...))
			}
			wf, err := Decode("workflows/"+base+".json", data)
			if err == nil {
				t.Fatalf("Decode succeeded (%d nodes); want errors %q", len(wf.Nodes), tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q; got:\n%s", w, msg)
				}
			}
			for _, e := range AsErrors(err) {
				if !strings.HasPrefix(e.Error(), "workflows/"+base+".json: ") {
					t.Errorf("error does not name the file: %s", e)
				}
			}
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("error reveals the secret value %q:\n%s", tt.secret, msg)
			}
		})
	}
}

// TestDecodePluginNamesPerKind: plugin nodes of different kinds may share
// a name, as their objects do (a Certificate and its Issuer, a
// ServiceAccount and a PodDisruptionBudget).
func TestDecodePluginNamesPerKind(t *testing.T) {
	t.Parallel()
	doc := testutil.LoadJSON(t, "../fixtures/repo/workflows/batch.json")
	doc = testutil.Apply(t, doc, testutil.Set("/nodes/-", map[string]any{"id": "issuer", "type": "plugin", "position": map[string]any{"x": 0, "y": 0},
		"data": map[string]any{"name": "batch-tls", "apiVersion": "cert-manager.io/v1", "kind": "Issuer"}}))
	if _, err := Decode("workflows/batch.json", testutil.Marshal(t, doc)); err != nil {
		t.Fatalf("a Certificate and an Issuer named alike: %v", err)
	}
}

func TestErrorsSortedByPointer(t *testing.T) {
	t.Parallel()
	es := Errors{
		{File: "b.json", Pointer: "/nodes/10/data"},
		{File: "a.json", Pointer: "/nodes/2"},
		{File: "b.json", Pointer: "/nodes/9/data"},
		{File: "b.json", Pointer: "/edges/0"},
	}
	es.Sort()
	var got []string
	for _, e := range es {
		got = append(got, e.File+e.Pointer)
	}
	want := "a.json/nodes/2 b.json/edges/0 b.json/nodes/9/data b.json/nodes/10/data"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}
