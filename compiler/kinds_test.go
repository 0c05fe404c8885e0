package compiler

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slipway-gitops/slipway/source"
	"sigs.k8s.io/yaml"
)

// check expects value want at a dotted path (numbers index lists) of the
// object in a base file.
type check struct {
	file string
	path string
	want any
}

// lookup follows a dotted path through decoded YAML; `\.` is a dot
// inside a key.
func lookup(v any, path string) (any, error) {
	const dot = "\x00"
	for _, tok := range strings.Split(strings.ReplaceAll(path, `\.`, dot), ".") {
		tok = strings.ReplaceAll(tok, dot, ".")
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[tok]; !ok {
				return nil, fmt.Errorf("no %q", tok)
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i >= len(x) {
				return nil, fmt.Errorf("no index %q", tok)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("%q: not a map or list", tok)
		}
	}
	return v, nil
}

// normal makes want and got comparable: both as JSON would decode them.
func normal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// compileOne builds a repository of one published workflow "k".
func compileOne(t *testing.T, nodes, edges string) Tree {
	t.Helper()
	wf := `{"name": "k", "status": "published", "nodes": [` + nodes + `], "edges": [` + edges + `]}`
	c := newCompiler(t)
	res := build(t, c, source.Files{"workflows/k.json": []byte(wf)})
	return res.Tree
}

const dep = `{"id": "d", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "app", "image": "nginx:1.27", "port": 8080}}`

// TestKinds checks, kind by kind, that every field of the seed's node data
// reaches the rendered object.
func TestKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind   string
		nodes  string
		edges  string
		checks []check
	}{
		{
			kind: "deployment",
			nodes: `{"id": "d", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {
				"name": "app", "namespace": "k", "image": "nginx:1.27", "replicas": 0, "port": 8080,
				"ports": [{"name": "admin", "port": 9000, "protocol": "UDP"}],
				"command": ["nginx"], "args": ["-g", "daemon off;"], "imagePullPolicy": "Always",
				"env": {"B": "2", "A": "true"},
				"envKeys": [{"name": "C", "value": "x: y"}, {"name": "D", "configMapKeyRef": {"name": "cfg", "key": "k1"}}],
				"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
				"labels": {"tier": "web"}, "annotations": {"team": "a"}, "templateId": "tpl-1",
				"livenessProbe": {"tcpPort": 8080, "periodSeconds": 7},
				"volumeMounts": [{"type": "configMap", "name": "cfg", "nodeId": "c", "mountPath": "/cfg", "subPath": "k1", "readOnly": true}],
				"_linkedConfigMaps": ["c"]}},
				{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "cfg", "data": {"k1": "v"}}}`,
			edges: `{"id": "e", "source": "c", "target": "d"}`,
			checks: []check{
				{"deployment-app.yaml", "spec.replicas", 0},
				{"deployment-app.yaml", "metadata.labels.tier", "web"},
				{"deployment-app.yaml", "metadata.annotations.team", "a"},
				{"deployment-app.yaml", "metadata.annotations.slipway\\.dev/template-id", "tpl-1"},
				{"deployment-app.yaml", "spec.template.metadata.labels.tier", "web"},
				{"deployment-app.yaml", "spec.template.spec.containers.0.image", "nginx:1.27"},
				{"deployment-app.yaml", "spec.template.spec.containers.0.ports", []any{map[string]any{"containerPort": 8080}, map[string]any{"name": "admin", "containerPort": 9000, "protocol": "UDP"}}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.command", []any{"nginx"}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.args", []any{"-g", "daemon off;"}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.imagePullPolicy", "Always"},
				{"deployment-app.yaml", "spec.template.spec.containers.0.env", []any{
					map[string]any{"name": "A", "value": "true"}, map[string]any{"name": "B", "value": "2"},
					map[string]any{"name": "C", "value": "x: y"},
					map[string]any{"name": "D", "valueFrom": map[string]any{"configMapKeyRef": map[string]any{"name": "cfg", "key": "k1"}}},
				}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.resources", map[string]any{"limits": map[string]any{"cpu": "1", "memory": "1Gi"}, "requests": map[string]any{"cpu": "100m", "memory": "64Mi"}}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.livenessProbe", map[string]any{"tcpSocket": map[string]any{"port": 8080}, "periodSeconds": 7}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.volumeMounts", []any{map[string]any{"name": "configmap-cfg", "mountPath": "/cfg", "subPath": "k1", "readOnly": true}}},
				{"deployment-app.yaml", "spec.template.spec.volumes.0.configMap.name", "cfg"},
			},
		},
		{
			kind: "service",
			nodes: dep + `,{"id": "s", "type": "service", "position": {"x": 0, "y": 0}, "data": {
				"name": "app", "serviceType": "LoadBalancer", "targetApp": "app", "port": 80, "targetPort": 8080,
				"sessionAffinity": "ClientIP", "labels": {"a": "b"}, "annotations": {"lb": "internal"},
				"selector": {"app.kubernetes.io/name": "app"}, "_linkedDeployment": "d"}},
				{"id": "h", "type": "service", "position": {"x": 0, "y": 0}, "data": {
				"name": "multi", "serviceType": "NodePort", "headless": false, "selector": {"role": "external"},
				"ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}`,
			edges: `{"id": "e", "source": "d", "target": "s"}`,
			checks: []check{
				{"service-app.yaml", "spec.type", "LoadBalancer"},
				{"service-app.yaml", "spec.selector", map[string]any{"app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": "k"}},
				{"service-app.yaml", "spec.ports", []any{map[string]any{"port": 80, "targetPort": 8080}}},
				{"service-app.yaml", "spec.sessionAffinity", "ClientIP"},
				{"service-app.yaml", "metadata.annotations.lb", "internal"},
				{"service-app.yaml", "metadata.labels.a", "b"},
				{"service-multi.yaml", "spec.selector", map[string]any{"role": "external"}},
				{"service-multi.yaml", "spec.ports", []any{
					map[string]any{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080},
					map[string]any{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
				}},
			},
		},
		{
			kind: "ingress",
			nodes: dep + `,{"id": "s", "type": "service", "position": {"x": 0, "y": 0}, "data": {"name": "app", "port": 80}},
				{"id": "i", "type": "ingress", "position": {"x": 0, "y": 0}, "data": {
				"name": "web", "host": "app.example.com", "ingressClassName": "nginx", "tlsEnabled": true,
				"tlsSecretName": "web-tls", "tlsHosts": ["app.example.com", "www.example.com"],
				"annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"},
				"paths": [
					{"id": "p1", "path": "/", "pathType": "Exact", "serviceName": "app", "servicePort": 80, "_linkedService": "s"},
					{"id": "p2", "path": "/ext", "serviceName": "elsewhere", "servicePort": 9000}]}}`,
			edges: `{"id": "e1", "source": "s", "target": "d"}, {"id": "e2", "source": "i", "target": "s", "sourceHandle": "p1"}`,
			checks: []check{
				{"ingress-web.yaml", "spec.ingressClassName", "nginx"},
				{"ingress-web.yaml", "spec.rules.0.host", "app.example.com"},
				{"ingress-web.yaml", "spec.rules.0.http.paths.0", map[string]any{"path": "/", "pathType": "Exact", "backend": map[string]any{"service": map[string]any{"name": "app", "port": map[string]any{"number": 80}}}}},
				{"ingress-web.yaml", "spec.rules.0.http.paths.1", map[string]any{"path": "/ext", "pathType": "Prefix", "backend": map[string]any{"service": map[string]any{"name": "elsewhere", "port": map[string]any{"number": 9000}}}}},
				{"ingress-web.yaml", "spec.tls", []any{map[string]any{"hosts": []any{"app.example.com", "www.example.com"}, "secretName": "web-tls"}}},
				{"ingress-web.yaml", "metadata.annotations.nginx\\.ingress\\.kubernetes\\.io/rewrite-target", "/"},
			},
		},
		{
			kind: "configmap and secret",
			nodes: dep + `,{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "cfg", "mountPath": "/etc/app", "data": {"multi": "a\nb\n", "bool": "true", "num": "0123", "yaml": "a: b", "null": "null", "empty": ""}}},
				{"id": "s", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "creds", "secretType": "Opaque", "mountPath": "/etc/creds", "keys": [{"id": "1", "name": "user"}, {"id": "2", "name": "pass"}]}},
				{"id": "r", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "registry", "secretType": "kubernetes.io/dockerconfigjson", "keys": [{"name": ".dockerconfigjson"}]}},
				{"id": "x", "type": "secret", "position": {"x": 0, "y": 0}, "data": {"name": "env-creds", "keys": [{"name": "TOKEN"}]}}`,
			edges: `{"id": "e1", "source": "c", "target": "d"}, {"id": "e2", "source": "s", "target": "d"}, {"id": "e3", "source": "r", "target": "d"}, {"id": "e4", "source": "d", "target": "x", "sourceHandle": "envFrom"}`,
			checks: []check{
				{"configmap-cfg.yaml", "data", map[string]any{"multi": "a\nb\n", "bool": "true", "num": "0123", "yaml": "a: b", "null": "null", "empty": ""}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.volumeMounts", []any{
					map[string]any{"name": "configmap-cfg", "mountPath": "/etc/app", "readOnly": true},
					map[string]any{"name": "secret-creds", "mountPath": "/etc/creds", "readOnly": true},
				}},
				{"deployment-app.yaml", "spec.template.spec.volumes.1.secret", map[string]any{"secretName": "creds", "items": []any{map[string]any{"key": "user", "path": "user"}, map[string]any{"key": "pass", "path": "pass"}}}},
				{"deployment-app.yaml", "spec.template.spec.imagePullSecrets", []any{map[string]any{"name": "registry"}}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.envFrom", []any{map[string]any{"secretRef": map[string]any{"name": "env-creds"}}}},
			},
		},
		{
			kind:  "workload waiting for another",
			nodes: dep + `,{"id": "s", "type": "statefulset", "position": {"x": 0, "y": 0}, "data": {"name": "db", "serviceName": "db", "image": "postgres:16", "port": 5432}}`,
			edges: `{"id": "e", "source": "d", "target": "s"}`,
			checks: []check{
				{"deployment-app.yaml", "spec.template.spec.initContainers.0.name", "wait-for-db"},
				{"deployment-app.yaml", "spec.template.spec.initContainers.0.image", "busybox:1.36"},
				{"deployment-app.yaml", "spec.template.spec.initContainers.0.command", []any{"sh", "-c", "until nc -z -w 2 db 5432; do echo waiting for db:5432; sleep 2; done"}},
			},
		},
		{
			kind: "statefulset",
			nodes: `{"id": "s", "type": "statefulset", "position": {"x": 0, "y": 0}, "data": {
				"name": "db", "serviceName": "db-hl", "image": "postgres:16", "replicas": 3, "port": 5432,
				"env": {"PGDATA": "/data/pg"}, "resources": {"requests": {"memory": "1Gi"}},
				"volumeClaimTemplates": [{"id": "v", "name": "pgdata", "accessModes": ["ReadWriteOnce"], "storage": "20Gi", "storageClassName": "ssd", "mountPath": "/data/pgdata"}],
				"volumeMounts": [{"nodeId": "p", "mountPath": "/backup"}]}},
				{"id": "p", "type": "persistentvolumeclaim", "position": {"x": 0, "y": 0}, "data": {"name": "backup", "accessModes": ["ReadWriteMany"], "storage": "1Gi"}}`,
			edges: `{"id": "e", "source": "p", "target": "s"}`,
			checks: []check{
				{"statefulset-db.yaml", "spec.serviceName", "db-hl"},
				{"statefulset-db.yaml", "spec.replicas", 3},
				{"statefulset-db.yaml", "spec.volumeClaimTemplates.0", map[string]any{"metadata": map[string]any{"name": "pgdata"}, "spec": map[string]any{"accessModes": []any{"ReadWriteOnce"}, "storageClassName": "ssd", "resources": map[string]any{"requests": map[string]any{"storage": "20Gi"}}}}},
				{"statefulset-db.yaml", "spec.template.spec.containers.0.volumeMounts", []any{map[string]any{"name": "pvc-backup", "mountPath": "/backup"}, map[string]any{"name": "pgdata", "mountPath": "/data/pgdata"}}},
				{"statefulset-db.yaml", "spec.template.spec.containers.0.env", []any{map[string]any{"name": "PGDATA", "value": "/data/pg"}}},
				{"service-db-hl.yaml", "spec.clusterIP", "None"},
				{"service-db-hl.yaml", "spec.ports", []any{map[string]any{"name": "port-5432", "port": 5432, "targetPort": 5432}}},
			},
		},
		{
			kind: "job",
			nodes: `{"id": "j", "type": "job", "position": {"x": 0, "y": 0}, "data": {
				"name": "once", "image": "busybox:1.36", "command": ["sh", "-c"], "args": ["echo hi"],
				"completions": 3, "parallelism": 2, "backoffLimit": 0, "activeDeadlineSeconds": 60,
				"restartPolicy": "OnFailure"}}`,
			checks: []check{
				{"job-once.yaml", "spec.completions", 3},
				{"job-once.yaml", "spec.parallelism", 2},
				{"job-once.yaml", "spec.backoffLimit", 0},
				{"job-once.yaml", "spec.activeDeadlineSeconds", 60},
				{"job-once.yaml", "spec.template.spec.restartPolicy", "OnFailure"},
				{"job-once.yaml", "spec.template.spec.containers.0.args", []any{"echo hi"}},
				{"job-once.yaml", "metadata.annotations.kustomize\\.toolkit\\.fluxcd\\.io/force", "enabled"},
			},
		},
		{
			kind: "cronjob",
			nodes: `{"id": "c", "type": "cronjob", "position": {"x": 0, "y": 0}, "data": {
				"name": "tick", "schedule": "*/5 * * * *", "timeZone": "Etc/UTC", "image": "busybox:1.36",
				"concurrencyPolicy": "Replace", "suspend": true, "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 1,
				"startingDeadlineSeconds": 30, "command": ["date"], "args": ["-u"], "env": {"X": "1"},
				"resources": {"limits": {"cpu": "50m"}}, "backoffLimit": 1}}`,
			checks: []check{
				{"cronjob-tick.yaml", "spec.schedule", "*/5 * * * *"},
				{"cronjob-tick.yaml", "spec.timeZone", "Etc/UTC"},
				{"cronjob-tick.yaml", "spec.concurrencyPolicy", "Replace"},
				{"cronjob-tick.yaml", "spec.suspend", true},
				{"cronjob-tick.yaml", "spec.successfulJobsHistoryLimit", 0},
				{"cronjob-tick.yaml", "spec.failedJobsHistoryLimit", 1},
				{"cronjob-tick.yaml", "spec.startingDeadlineSeconds", 30},
				{"cronjob-tick.yaml", "spec.jobTemplate.spec.backoffLimit", 1},
				{"cronjob-tick.yaml", "spec.jobTemplate.spec.template.spec.containers.0", map[string]any{
					"name": "tick", "image": "busybox:1.36", "command": []any{"date"}, "args": []any{"-u"},
					"env": []any{map[string]any{"name": "X", "value": "1"}}, "resources": map[string]any{"limits": map[string]any{"cpu": "50m"}},
				}},
				// KubeOrch's default for a cronjob that sets none.
				{"cronjob-tick.yaml", "spec.jobTemplate.spec.template.spec.restartPolicy", "OnFailure"},
			},
		},
		{
			kind: "daemonset",
			nodes: `{"id": "d", "type": "daemonset", "position": {"x": 0, "y": 0}, "data": {
				"name": "agent", "image": "busybox:1.36", "nodeSelector": {"disk": "ssd"},
				"tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5}],
				"hostNetwork": false, "hostPID": true, "updateStrategy": "RollingUpdate", "maxUnavailable": "2"}}`,
			checks: []check{
				{"daemonset-agent.yaml", "spec.template.spec.nodeSelector", map[string]any{"disk": "ssd"}},
				{"daemonset-agent.yaml", "spec.template.spec.tolerations", []any{map[string]any{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute", "tolerationSeconds": 5}}},
				{"daemonset-agent.yaml", "spec.template.spec.hostPID", true},
				{"daemonset-agent.yaml", "spec.updateStrategy", map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": 2}}},
			},
		},
		{
			kind: "hpa",
			nodes: `{"id": "d", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "app", "image": "nginx:1.27", "port": 8080,
				"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}},{"id": "h", "type": "hpa", "position": {"x": 0, "y": 0}, "data": {
				"name": "app", "scaleTargetKind": "Deployment", "scaleTargetName": "app", "minReplicas": 2, "maxReplicas": 5,
				"targetCPUUtilization": 60, "targetMemoryUtilization": 75}}`,
			edges: `{"id": "e", "source": "h", "target": "d"}`,
			checks: []check{
				{"horizontalpodautoscaler-app.yaml", "spec.scaleTargetRef", map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}},
				{"horizontalpodautoscaler-app.yaml", "spec.minReplicas", 2},
				{"horizontalpodautoscaler-app.yaml", "spec.maxReplicas", 5},
				{"horizontalpodautoscaler-app.yaml", "spec.metrics", []any{
					map[string]any{"type": "Resource", "resource": map[string]any{"name": "cpu", "target": map[string]any{"type": "Utilization", "averageUtilization": 60}}},
					map[string]any{"type": "Resource", "resource": map[string]any{"name": "memory", "target": map[string]any{"type": "Utilization", "averageUtilization": 75}}},
				}},
			},
		},
		{
			kind: "networkpolicy",
			nodes: dep + `,{"id": "n", "type": "networkpolicy", "position": {"x": 0, "y": 0}, "data": {
				"name": "app", "podSelector": {"app.kubernetes.io/name": "app"}, "policyTypes": ["Ingress", "Egress"],
				"ingressRules": [{"peers": [{"podSelector": {"role": "client"}, "namespaceSelector": {"team": "a"}}], "ports": [{"port": 8080}]}],
				"egressRules": [{"peers": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}], "ports": [{"protocol": "UDP", "port": 53}]}]}},
				{"id": "o", "type": "networkpolicy", "position": {"x": 0, "y": 0}, "data": {"name": "all", "podSelector": {"role": "any"}}}`,
			edges: `{"id": "e", "source": "n", "target": "d"}`,
			checks: []check{
				{"networkpolicy-app.yaml", "spec.podSelector", map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "app", "app.kubernetes.io/part-of": "k"}}},
				{"networkpolicy-app.yaml", "spec.policyTypes", []any{"Ingress", "Egress"}},
				{"networkpolicy-app.yaml", "spec.ingress", []any{map[string]any{
					"from":  []any{map[string]any{"podSelector": map[string]any{"matchLabels": map[string]any{"role": "client"}}, "namespaceSelector": map[string]any{"matchLabels": map[string]any{"team": "a"}}}},
					"ports": []any{map[string]any{"protocol": "TCP", "port": 8080}},
				}}},
				{"networkpolicy-app.yaml", "spec.egress", []any{map[string]any{
					"to":    []any{map[string]any{"ipBlock": map[string]any{"cidr": "0.0.0.0/0", "except": []any{"169.254.169.254/32"}}}},
					"ports": []any{map[string]any{"protocol": "UDP", "port": 53}},
				}}},
				{"networkpolicy-all.yaml", "spec.podSelector", map[string]any{"matchLabels": map[string]any{"role": "any"}}},
			},
		},
		{
			kind: "persistentvolumeclaim",
			nodes: `{"id": "p", "type": "persistentvolumeclaim", "position": {"x": 0, "y": 0}, "data": {
				"name": "vol", "storageClassName": "fast", "accessModes": ["ReadWriteOncePod"], "storage": "500Mi", "volumeMode": "Block"}}`,
			checks: []check{
				{"persistentvolumeclaim-vol.yaml", "spec", map[string]any{"storageClassName": "fast", "accessModes": []any{"ReadWriteOncePod"}, "resources": map[string]any{"requests": map[string]any{"storage": "500Mi"}}, "volumeMode": "Block"}},
			},
		},
		{
			kind: "plugin",
			nodes: `{"id": "p", "type": "plugin", "position": {"x": 0, "y": 0}, "data": {
				"name": "cache", "apiVersion": "example.com/v1alpha1", "kind": "RedisCluster", "displayName": "Redis", "pluginCategory": "database",
				"_pluginFields": [
					{"id": "size", "label": "Size", "type": "number", "required": true},
					{"id": "storage.class", "type": "select", "options": ["fast", "slow"], "default": "slow"},
					{"id": "tls", "type": "boolean"},
					{"id": "version", "type": "text", "placeholder": "7.2"}],
				"size": 3, "tls": false, "version": "7.2"}}`,
			checks: []check{
				{"rediscluster-cache.yaml", "apiVersion", "example.com/v1alpha1"},
				{"rediscluster-cache.yaml", "kind", "RedisCluster"},
				{"rediscluster-cache.yaml", "spec", map[string]any{"size": 3, "storage": map[string]any{"class": "slow"}, "tls": false, "version": "7.2"}},
				{"rediscluster-cache.yaml", "metadata.annotations.slipway\\.dev/node-id", "p"},
			},
		},
		{
			kind: "emptyDir volumes",
			nodes: `{"id": "d", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "app", "image": "nginx:1.27", "port": 8080,
				"securityContext": {"readOnlyRootFilesystem": true},
				"volumeMounts": [
					{"type": "emptyDir", "name": "tmp", "mountPath": "/tmp"},
					{"type": "configMap", "name": "conf", "nodeId": "c", "mountPath": "/etc/app", "readOnly": true},
					{"type": "emptyDir", "name": "cache", "mountPath": "/var/cache/app", "subPath": "app"}]}},
				{"id": "c", "type": "configmap", "position": {"x": 0, "y": 0}, "data": {"name": "conf", "data": {"k": "v"}}}`,
			edges: `{"id": "e", "source": "c", "target": "d"}`,
			checks: []check{
				{"deployment-app.yaml", "spec.template.spec.volumes", []any{
					map[string]any{"name": "cache", "emptyDir": map[string]any{}},
					map[string]any{"name": "configmap-conf", "configMap": map[string]any{"name": "conf"}},
					map[string]any{"name": "tmp", "emptyDir": map[string]any{}}}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.volumeMounts", []any{
					map[string]any{"name": "configmap-conf", "mountPath": "/etc/app", "readOnly": true},
					map[string]any{"name": "tmp", "mountPath": "/tmp"},
					map[string]any{"name": "cache", "mountPath": "/var/cache/app", "subPath": "app"}}},
			},
		},
		{
			kind: "pod security",
			nodes: `{"id": "d", "type": "deployment", "position": {"x": 0, "y": 0}, "data": {"name": "app", "image": "nginx:1.27", "port": 8080,
				"serviceAccountName": "app", "automountServiceAccountToken": false,
				"podSecurityContext": {"runAsNonRoot": true, "runAsUser": 101, "fsGroup": 101, "seccompProfile": {"type": "RuntimeDefault"}},
				"securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}},
				{"id": "s", "type": "statefulset", "position": {"x": 0, "y": 0}, "data": {"name": "db", "serviceName": "db", "image": "postgres:16", "port": 5432}}`,
			edges: `{"id": "e", "source": "d", "target": "s"}`,
			checks: []check{
				{"deployment-app.yaml", "spec.template.spec.serviceAccountName", "app"},
				{"deployment-app.yaml", "spec.template.spec.automountServiceAccountToken", false},
				{"deployment-app.yaml", "spec.template.spec.securityContext", map[string]any{"runAsNonRoot": true, "runAsUser": 101, "fsGroup": 101, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}},
				{"deployment-app.yaml", "spec.template.spec.containers.0.securityContext", map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
					"capabilities": map[string]any{"drop": []any{"ALL"}, "add": []any{"NET_BIND_SERVICE"}}}},
				{"deployment-app.yaml", "spec.template.spec.initContainers.0.securityContext", map[string]any{"runAsNonRoot": true, "runAsUser": 65534,
					"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": map[string]any{"drop": []any{"ALL"}}, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}},
				{"deployment-app.yaml", "spec.template.spec.initContainers.0.resources", map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "16Mi"}, "limits": map[string]any{"cpu": "100m", "memory": "32Mi"}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			t.Parallel()
			tree := compileOne(t, tt.nodes, tt.edges)
			for _, c := range tt.checks {
				b, ok := tree["workflows/k/base/"+c.file]
				if !ok {
					t.Errorf("no file %s; have %v", c.file, tree.Paths())
					continue
				}
				var obj any
				if err := yaml.Unmarshal(b, &obj); err != nil {
					t.Fatalf("%s: %v", c.file, err)
				}
				got, err := lookup(obj, c.path)
				if err != nil {
					t.Errorf("%s: %s: %v", c.file, c.path, err)
					continue
				}
				if diff := cmp.Diff(normal(t, c.want), normal(t, got)); diff != "" {
					t.Errorf("%s: %s (-want +got):\n%s", c.file, c.path, diff)
				}
			}
		})
	}
}
