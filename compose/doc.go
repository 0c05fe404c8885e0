// Package compose imports Docker Compose files into workflows, and says
// for every compose field it meets whether it was mapped, approximated
// (and how) or dropped (and why).
//
// Files are loaded with compose-go's loader, as published: interpolation
// from .env and the environment, env_file, profiles, extends, several
// files merged, x- extensions ignored, and its validation against the
// Compose Specification's JSON Schema. Every problem is an *InputError
// with the file, line and column of the offending key or item:
//
//   - compose-go names the value that fails its schema, or that is not
//     the number a field needs, by its path (services.web.ports); the path
//     is followed through the file's YAML node tree for the line and
//     column, and a path the file does not hold as such (a field that
//     extends brought in) is placed at the deepest key of it that the file
//     holds. compose-go stops at its first, most specific, schema error.
//   - Its messages are said again in this package's words: an unknown key
//     gets the closest key the specification allows there ("did you mean
//     environment?"), a wrong type says what the file has. compose-go's
//     message names only the key it refuses, so the keys allowed there are
//     read from the JSON Schema it embeds, when such an error occurs.
//   - Two checks remain this package's own, because compose-go cannot say
//     where: mapping keys that are not text (compose-go's loader stops at
//     the first, with a path but no line), reported before loading; and
//     what services refer to (services, volumes, networks, secrets and
//     configs) that no file defines, with the closest defined name, all at
//     once (compose-go stops at the first, with neither place nor
//     suggestion). That check reads merge keys (<<) as compose does,
//     expanding each merged mapping once: merge keys that merge aliases
//     that merge aliases in turn cost it no more than the file's size.
//
// No table is generated from the specification. Files reached through
// include or extends.file are validated by compose-go, but its errors in
// them have no line. The mapping rules:
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
//     mounts, anonymous volumes and tmpfs are dropped. Host paths are told
//     from volume names as compose-go parses them: C:\data is a host path.
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
