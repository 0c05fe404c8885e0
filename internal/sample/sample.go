// Package sample generates workflows repositories of any size for
// benchmarks and load tests.
package sample

import "fmt"

// Workflow returns a published workflow of 20 nodes and 16 edges that
// uses every node kind; its name is w<i>.
func Workflow(i, replicas int) []byte {
	deps := ""
	if i%10 != 0 {
		deps = fmt.Sprintf(`"dependsOn": ["w%03d"],`, i-1)
	}
	return fmt.Appendf(nil, `{
  "name": "w%03[1]d", "status": "published", %[2]s
  "nodes": [
    {"id": "ing", "type": "ingress", "position": {"x": 0, "y": 0}, "data": {"name": "web", "host": "w%03[1]d.example.com", "paths": [
      {"id": "root", "path": "/", "pathType": "Prefix"}, {"id": "api", "path": "/api", "pathType": "Prefix"}]}},
    {"id": "svc-web", "type": "service", "position": {"x": 1, "y": 0}, "data": {"name": "web", "port": 80}},
    {"id": "svc-api", "type": "service", "position": {"x": 1, "y": 1}, "data": {"name": "api", "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "metrics", "port": 9090}]}},
    {"id": "svc-db", "type": "service", "position": {"x": 1, "y": 2}, "data": {"name": "db", "port": 5432}},
    {"id": "web", "type": "deployment", "position": {"x": 2, "y": 0}, "data": {"name": "web", "image": "nginx:1.27", "replicas": %[3]d, "port": 8080,
      "env": {"MODE": "production", "WORKERS": "4"}, "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
      "volumeMounts": [{"nodeId": "cm-web", "mountPath": "/etc/nginx/conf.d"}]}},
    {"id": "api", "type": "deployment", "position": {"x": 2, "y": 1}, "data": {"name": "api", "image": "ghcr.io/example/api:1.2.3", "replicas": 2, "port": 8080,
      "envKeys": [{"name": "TOKEN", "secretKeyRef": {"name": "api-keys", "key": "token"}}], "resources": {"requests": {"cpu": "100m"}},
      "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}, "volumeMounts": [{"nodeId": "pvc-api", "mountPath": "/var/data"}]}},
    {"id": "db", "type": "statefulset", "position": {"x": 2, "y": 2}, "data": {"name": "db", "serviceName": "db-headless", "image": "postgres:16", "replicas": 1, "port": 5432,
      "volumeClaimTemplates": [{"name": "data", "accessModes": ["ReadWriteOnce"], "storage": "10Gi", "mountPath": "/var/lib/postgresql/data"}]}},
    {"id": "cm-web", "type": "configmap", "position": {"x": 3, "y": 0}, "data": {"name": "web", "data": {"default.conf": "server {\n  listen 8080;\n}\n"}}},
    {"id": "cm-api", "type": "configmap", "position": {"x": 3, "y": 1}, "data": {"name": "api", "data": {"LOG_LEVEL": "info", "FLAGS": "true"}}},
    {"id": "cm-job", "type": "configmap", "position": {"x": 3, "y": 2}, "data": {"name": "job", "data": {"query.sql": "SELECT 1;"}}},
    {"id": "sec-api", "type": "secret", "position": {"x": 3, "y": 3}, "data": {"name": "api-keys", "keys": [{"name": "token"}, {"name": "signing"}]}},
    {"id": "sec-db", "type": "secret", "position": {"x": 3, "y": 4}, "data": {"name": "db-auth", "keys": [{"name": "password"}]}},
    {"id": "pvc-api", "type": "persistentvolumeclaim", "position": {"x": 3, "y": 5}, "data": {"name": "api-data", "accessModes": ["ReadWriteOnce"], "storage": "1Gi"}},
    {"id": "pvc-job", "type": "persistentvolumeclaim", "position": {"x": 3, "y": 6}, "data": {"name": "job-data", "accessModes": ["ReadWriteOnce"], "storage": "1Gi"}},
    {"id": "hpa", "type": "hpa", "position": {"x": 4, "y": 0}, "data": {"name": "api", "minReplicas": 2, "maxReplicas": 10, "targetCPUUtilization": 70}},
    {"id": "np", "type": "networkpolicy", "position": {"x": 4, "y": 1}, "data": {"name": "api", "policyTypes": ["Ingress"],
      "ingressRules": [{"peers": [{"podSelector": {"app.kubernetes.io/name": "web"}}], "ports": [{"port": 8080}]}]}},
    {"id": "job", "type": "job", "position": {"x": 4, "y": 2}, "data": {"name": "migrate", "image": "busybox:1.36", "command": ["sh", "-c", "true"], "backoffLimit": 0}},
    {"id": "cron", "type": "cronjob", "position": {"x": 4, "y": 3}, "data": {"name": "report", "schedule": "0 2 * * *", "image": "busybox:1.36", "command": ["true"]}},
    {"id": "ds", "type": "daemonset", "position": {"x": 4, "y": 4}, "data": {"name": "agent", "image": "busybox:1.36", "tolerations": [{"operator": "Exists"}]}},
    {"id": "cert", "type": "plugin", "position": {"x": 4, "y": 5}, "data": {"name": "web-tls", "apiVersion": "cert-manager.io/v1", "kind": "Certificate",
      "_pluginFields": [{"id": "secretName", "type": "text"}, {"id": "issuerRef.name", "type": "text"}], "secretName": "web-tls", "issuerRef.name": "letsencrypt"}}
  ],
  "edges": [
    {"id": "e1", "source": "ing", "target": "svc-web", "sourceHandle": "root"},
    {"id": "e2", "source": "ing", "target": "svc-api", "sourceHandle": "api"},
    {"id": "e3", "source": "svc-web", "target": "web"},
    {"id": "e4", "source": "svc-api", "target": "api"},
    {"id": "e5", "source": "svc-db", "target": "db"},
    {"id": "e6", "source": "cm-web", "target": "web"},
    {"id": "e7", "source": "cm-api", "target": "api", "targetHandle": "envFrom"},
    {"id": "e8", "source": "cm-job", "target": "cron"},
    {"id": "e9", "source": "sec-api", "target": "api", "targetHandle": "envFrom"},
    {"id": "e10", "source": "sec-db", "target": "db"},
    {"id": "e11", "source": "pvc-api", "target": "api"},
    {"id": "e12", "source": "pvc-job", "target": "job"},
    {"id": "e13", "source": "hpa", "target": "api"},
    {"id": "e14", "source": "np", "target": "api"},
    {"id": "e15", "source": "np", "target": "web"},
    {"id": "e16", "source": "sec-api", "target": "job", "targetHandle": "envFrom"}
  ]
}`, i, deps, replicas)
}

// Repo returns the files of a repository of n generated workflows.
func Repo(n int) map[string][]byte {
	src := map[string][]byte{}
	for i := range n {
		src[fmt.Sprintf("workflows/w%03d.json", i)] = Workflow(i, 1)
	}
	return src
}

// Graph returns a workflow of n deployments, each with a service linked to
// it, for measuring graph operations on big workflows; seed changes the
// replicas of every tenth deployment and moves every seventh service.
func Graph(n, seed int) []byte {
	nodes, edges := "", ""
	for i := range n / 2 {
		replicas, x := 1, i
		if i%10 == 0 {
			replicas += seed
		}
		if i%7 == 0 {
			x += seed
		}
		if i > 0 {
			nodes += ",\n"
			edges += ",\n"
		}
		nodes += fmt.Sprintf(`    {"id": "d%[1]d", "type": "deployment", "position": {"x": %[1]d, "y": 0}, "data": {"name": "d%[1]d", "image": "nginx:1.27", "replicas": %[2]d, "port": 8080, "env": {"INDEX": "%[1]d"}}},
    {"id": "s%[1]d", "type": "service", "position": {"x": %[3]d, "y": 100}, "data": {"name": "s%[1]d", "port": 80}}`, i, replicas, x)
		edges += fmt.Sprintf(`    {"id": "e%[1]d", "source": "s%[1]d", "target": "d%[1]d"}`, i)
	}
	return []byte(`{"name": "big", "status": "published", "nodes": [
` + nodes + `
], "edges": [
` + edges + `
]}`)
}
