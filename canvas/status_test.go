package canvas

import (
	"encoding/json"
	"testing"

	"github.com/slipway-gitops/slipway/watch"
)

func n64(v int64) *int64 { return &v }

// node is a status record's node of one object.
func node(health watch.Health, reason string, objects ...watch.Object) watch.Node {
	for i := range objects {
		if objects[i].Health == "" {
			objects[i].Health = health
		}
	}
	return watch.Node{ID: "n", Result: watch.Result{Health: health, Reason: reason}, Objects: objects}
}

// TestNodeStatusOf: each kind's health reads in the words its settings
// panel checks for, with its main object's figures under the editor's
// names.
func TestNodeStatusOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		node watch.Node
		want string
	}{
		{"a deployment rolling out, shown from its Deployment, not its ConfigMap",
			node(watch.Progressing, "Deployment web: 1 of 3 updated replicas are available",
				watch.Object{Kind: "ConfigMap", Name: "web-env"},
				watch.Object{Kind: "Deployment", Name: "web", Figures: &watch.Figures{ReadyReplicas: n64(1), DesiredReplicas: n64(3)}}),
			`{"state":"partial","message":"Deployment web: 1 of 3 updated replicas are available","replicas":3,"readyReplicas":1}`},
		{"a healthy deployment", node(watch.Healthy, "", watch.Object{Kind: "Deployment", Name: "web", Figures: &watch.Figures{ReadyReplicas: n64(2), DesiredReplicas: n64(2)}}),
			`{"state":"healthy","replicas":2,"readyReplicas":2}`},
		{"a degraded statefulset", node(watch.Degraded, "StatefulSet db: no pods", watch.Object{Kind: "StatefulSet", Name: "db", Figures: &watch.Figures{ReadyReplicas: n64(0), DesiredReplicas: n64(1)}}),
			`{"state":"error","message":"StatefulSet db: no pods","replicas":1,"readyReplicas":0}`},
		{"a daemonset", node(watch.Healthy, "", watch.Object{Kind: "DaemonSet", Name: "agent", Figures: &watch.Figures{ReadyReplicas: n64(3), DesiredReplicas: n64(3)}}),
			`{"state":"healthy","desiredNumberScheduled":3,"numberReady":3}`},
		{"a service", node(watch.Healthy, "", watch.Object{Kind: "Service", Name: "web", Figures: &watch.Figures{ClusterIP: "10.96.0.10", NodePorts: []int64{30080, 30443}, ExternalIPs: []string{"192.0.2.1"}}}),
			`{"state":"healthy","clusterIP":"10.96.0.10","nodePort":30080,"externalIP":"192.0.2.1"}`},
		{"an ingress with a host name", node(watch.Healthy, "", watch.Object{Kind: "Ingress", Name: "web", Figures: &watch.Figures{Addresses: []string{"lb.example.com"}}}),
			`{"state":"healthy","loadBalancerHostname":"lb.example.com"}`},
		{"an ingress with an IP", node(watch.Healthy, "", watch.Object{Kind: "Ingress", Name: "web", Figures: &watch.Figures{Addresses: []string{"192.0.2.7"}}}),
			`{"state":"healthy","loadBalancerIP":"192.0.2.7"}`},
		{"an ingress on its way", node(watch.Progressing, "", watch.Object{Kind: "Ingress", Name: "web"}),
			`{"state":"pending"}`},
		{"a bound claim", node(watch.Healthy, "", watch.Object{Kind: "PersistentVolumeClaim", Name: "data", Figures: &watch.Figures{Capacity: "10Gi", Phase: "Bound"}}),
			`{"state":"Bound","capacity":"10Gi"}`},
		{"a claim not bound yet", node(watch.Progressing, "", watch.Object{Kind: "PersistentVolumeClaim", Name: "data", Figures: &watch.Figures{Phase: "Pending"}}),
			`{"state":"Pending"}`},
		{"a job done", node(watch.Healthy, "", watch.Object{Kind: "Job", Name: "migrate", Figures: &watch.Figures{Succeeded: n64(1), Failed: n64(0)}}),
			`{"state":"completed","succeeded":1,"failed":0}`},
		{"a job running", node(watch.Progressing, "", watch.Object{Kind: "Job", Name: "migrate", Figures: &watch.Figures{Succeeded: n64(0), Failed: n64(0)}}),
			`{"state":"running","succeeded":0,"failed":0}`},
		{"a job failed", node(watch.Degraded, "Job migrate: BackoffLimitExceeded", watch.Object{Kind: "Job", Name: "migrate", Figures: &watch.Figures{Succeeded: n64(0), Failed: n64(6)}}),
			`{"state":"failed","message":"Job migrate: BackoffLimitExceeded","succeeded":0,"failed":6}`},
		{"a cronjob", node(watch.Healthy, "", watch.Object{Kind: "CronJob", Name: "report", Figures: &watch.Figures{LastSchedule: "2026-12-06T05:00:00Z"}}),
			`{"state":"active","lastScheduleTime":"2026-12-06T05:00:00Z"}`},
		{"a suspended cronjob", node(watch.Suspended, "", watch.Object{Kind: "CronJob", Name: "report"}),
			`{"state":"suspended"}`},
		{"a stable autoscaler", node(watch.Healthy, "", watch.Object{Kind: "HorizontalPodAutoscaler", Name: "web", Figures: &watch.Figures{CurrentReplicas: n64(2), DesiredReplicas: n64(2)}}),
			`{"state":"stable","currentReplicas":2,"desiredReplicas":2}`},
		{"a scaling autoscaler", node(watch.Healthy, "", watch.Object{Kind: "HorizontalPodAutoscaler", Name: "web", Figures: &watch.Figures{CurrentReplicas: n64(2), DesiredReplicas: n64(4)}}),
			`{"state":"scaling","currentReplicas":2,"desiredReplicas":4}`},
		{"a config map", node(watch.Healthy, "", watch.Object{Kind: "ConfigMap", Name: "settings"}),
			`{"state":"created"}`},
		{"a network policy", node(watch.Healthy, "", watch.Object{Kind: "NetworkPolicy", Name: "deny"}),
			`{"state":"active"}`},
		{"a missing object", node(watch.Missing, "Deployment web is Missing", watch.Object{Kind: "Deployment", Name: "web"}),
			`{"state":"error","message":"Deployment web is Missing"}`},
		{"a plugin's custom resource", node(watch.Progressing, "Certificate web: Issuing", watch.Object{Kind: "Certificate", Group: "cert-manager.io", Name: "web"}),
			`{"state":"partial","message":"Certificate web: Issuing"}`},
		{"a cluster not watched", node(watch.NotWatched, "cluster prod is not watched"),
			`{"state":"unknown","message":"cluster prod is not watched"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(NodeStatusOf(tc.node))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("_status\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestNodeEvents: the first record is a workflow_sync of every node, a
// change is a node_update of the nodes it changed only, a record that
// changes no node sends nothing, and nodes that went away (or a deleted
// record) are a workflow_sync again, which replaces what the editor
// shows.
func TestNodeEvents(t *testing.T) {
	t.Parallel()
	rec := func(health ...watch.Health) *watch.WorkflowStatus {
		ws := &watch.WorkflowStatus{Name: "shop"}
		for i, h := range health {
			ws.Nodes = append(ws.Nodes, watch.Node{ID: string(rune('a' + i)), Result: watch.Result{Health: h}, Objects: []watch.Object{{Kind: "Deployment", Name: "x", Result: watch.Result{Health: h}}}})
		}
		return ws
	}
	e := newNodeEvents("shop")
	steps := []struct {
		name string
		ws   *watch.WorkflowStatus
		want string
	}{
		{"first record", rec(watch.Progressing, watch.Healthy),
			"id: 5\nevent: workflow_sync\ndata: {\"type\":\"workflow\",\"stream_key\":\"workflow:shop\",\"event_type\":\"workflow_sync\",\"data\":{\"nodes\":[{\"id\":\"a\",\"data\":{\"_status\":{\"state\":\"partial\"}}},{\"id\":\"b\",\"data\":{\"_status\":{\"state\":\"healthy\"}}}]}}\n\n"},
		{"one node changed", rec(watch.Healthy, watch.Healthy),
			"id: 6\nevent: node_update\ndata: {\"type\":\"workflow\",\"stream_key\":\"workflow:shop\",\"event_type\":\"node_update\",\"data\":{\"node_id\":\"a\",\"status\":{\"state\":\"healthy\"}}}\n\n"},
		{"no node changed", rec(watch.Healthy, watch.Healthy), ""},
		{"a node went away", rec(watch.Healthy),
			"id: 8\nevent: workflow_sync\ndata: {\"type\":\"workflow\",\"stream_key\":\"workflow:shop\",\"event_type\":\"workflow_sync\",\"data\":{\"nodes\":[{\"id\":\"a\",\"data\":{\"_status\":{\"state\":\"healthy\"}}}]}}\n\n"},
		{"the record was deleted", nil,
			"id: 9\nevent: workflow_sync\ndata: {\"type\":\"workflow\",\"stream_key\":\"workflow:shop\",\"event_type\":\"workflow_sync\",\"data\":{\"nodes\":[]}}\n\n"},
	}
	for i, st := range steps {
		if got := string(e.next(int64(5+i), st.ws)); got != st.want {
			t.Errorf("%s:\n got %q\nwant %q", st.name, got, st.want)
		}
	}
}
