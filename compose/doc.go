// Package compose imports Docker Compose files into workflows, and says
// for every compose field it meets whether it was mapped, approximated
// (and how) or dropped (and why).
//
// Files are loaded with compose-go's loader: interpolation from .env and
// the environment, env_file, profiles, extends, several files merged, x-
// extensions ignored. Before that, each file is checked against the
// Compose Specification with tables that go generate writes from the JSON
// Schema compose-go embeds (spec_gen.go), and what services refer to
// (services, volumes, networks, secrets, configs) must be defined; every
// problem is an *InputError with the file, line and column of the
// offending key, and a suggestion for a misspelled name. compose-go's own
// validation is not linked: the loader is a copy (internal/loader) without
// it, since linking it costs every process the compilation of the JSON
// Schema meta-schemas. Files reached through include or extends.file are
// not checked. The mapping rules:
//
//   - A service becomes a Deployment; a StatefulSet when it mounts a named
//     volume (its state lives there); a Job when it does not restart
//     (restart: "no") and nothing says it serves: no ports, no expose, no
//     healthcheck, and no service waits for it to be healthy; a CronJob
//     when labelled slipway.schedule (an invalid schedule becomes daily at
//     midnight); a DaemonSet with deploy.mode global. The label
//     slipway.kind overrides; a Job or CronJob gets no Service. The
//     report's entry for the service itself says why it became its kind.
//   - A reservation above its limit is lowered to the limit; an image
//     reference Kubernetes would reject is an error that names the
//     service.
//   - ports and expose become a Service of the same name with every port;
//     ClusterIP, or NodePort when a port is published; the label
//     slipway.service-type overrides. In-cluster clients keep using the
//     container port, as they did on the compose network.
//   - environment becomes env; a variable whose name says it holds a
//     credential becomes a key of the Secret <service>-credentials instead,
//     with its value left out. env_file becomes a ConfigMap loaded with
//     envFrom (credentials again go to the Secret).
//   - secrets become Secret nodes with key names only, mounted where
//     compose mounts them; their files are never opened. configs become
//     ConfigMaps with the file's content.
//   - Named volumes become PersistentVolumeClaims (1Gi, ReadWriteOnce;
//     ReadWriteMany when several services share one) mounted at the same
//     path. A bind mount of one small file becomes a ConfigMap; other bind
//     mounts, anonymous volumes and tmpfs are dropped.
//   - depends_on becomes an edge from the service to its dependency: the
//     service's pods wait in an init container until the dependency's
//     Service accepts connections (for service_started and
//     service_healthy alike, since readiness gates the Service).
//   - healthcheck becomes a readiness probe; deploy.replicas and
//     deploy.resources become replicas and resources; entrypoint and
//     command become command and args; labels become labels (or
//     annotations when not valid labels); build marks the node for a
//     build and names the image <project>-<service>:latest.
//
// Names are made DNS-1123 safe once and used everywhere: db_data becomes
// db-data in the PVC and in every mount.
package compose
