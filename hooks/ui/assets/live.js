// Slipway status page: follows /api/events and updates what the server
// rendered, without reloading. The page is complete without this script.
"use strict";
(function () {
  const body = document.body;
  const rev = body.dataset.revision;
  if (rev === undefined || rev === "-1" || !window.EventSource) return;
  const symbols = { Healthy: "✓", Progressing: "…", Suspended: "‖", Degraded: "✕", Missing: "?" };
  const live = document.querySelector('[data-field="live"]');

  function setHealth(el, result) {
    if (!el) return;
    el.className = el.className.replace(/\bhealth-\S+/g, "").trim() + " health-" + result.health;
    el.title = result.reason || "";
    el.textContent = (symbols[result.health] || "–") + " " + result.health;
  }
  function setSync(el, sync) {
    if (!el) return;
    const state = (sync && sync.state) || "";
    el.className = "sync sync-" + state;
    el.textContent = state + (sync && sync.suspended && state !== "Suspended" ? " (suspended)" : "") +
      (sync && sync.unhealthy ? " (applied, unhealthy)" : "");
  }
  function setFlux(el, r) {
    if (!el) return;
    if (!r) { el.textContent = "–"; return; }
    el.innerHTML = "";
    const span = document.createElement("span");
    span.className = "health";
    setHealth(span, r);
    span.title = r.kind + " " + r.namespace + "/" + r.name + (r.reason ? ": " + r.reason : "");
    el.appendChild(span);
  }
  function field(scope, name) { return scope.querySelector('[data-field="' + name + '"]'); }
  function setText(el, text) { if (el) el.textContent = text; }
  function short(s) { return (s || "").slice(0, 12); }
  function version(ws) {
    const l = ws.sync && ws.sync.live;
    if (!l) return "none";
    return (l.version ? "v" + l.version : "?") + " " + short(l.source_commit);
  }
  function drift(d) {
    const m = (d && d.missing) || [], x = (d && d.extra) || [];
    if (!m.length && !x.length) return "none";
    return m.length + " missing, " + x.length + " extra";
  }

  // figures says an object's figures in words, as watch.Figures.Summary
  // does on the server.
  function figures(f) {
    if (!f) return "";
    const parts = [];
    const has = function (v) { return v !== undefined && v !== null; };
    if (has(f.ready_replicas) && has(f.desired_replicas)) parts.push(f.ready_replicas + "/" + f.desired_replicas + " ready");
    else if (has(f.current_replicas) && has(f.desired_replicas)) parts.push(f.current_replicas + " → " + f.desired_replicas + " replicas");
    if (f.cluster_ip) parts.push(f.cluster_ip + (f.node_ports || []).map(function (p) { return " :" + p; }).join(""));
    if (f.external_ips && f.external_ips.length) parts.push("external " + f.external_ips.join(", "));
    if (has(f.ready_endpoints)) parts.push(f.ready_endpoints + " ready endpoints");
    if (f.addresses && f.addresses.length) parts.push("at " + f.addresses.join(", "));
    const pvc = ((f.capacity || "") + " " + (f.phase || "")).trim();
    if (pvc) parts.push(pvc);
    if (has(f.succeeded) && has(f.failed)) parts.push(f.succeeded + " succeeded, " + f.failed + " failed");
    if (f.last_schedule) parts.push("last scheduled " + f.last_schedule);
    if (f.last_success) parts.push("last succeeded " + f.last_success);
    return parts.join(" · ");
  }
  function nodeFigures(n) {
    return (n.objects || []).map(function (o) { return figures(o.figures); }).filter(Boolean).join(" · ");
  }

  function onWorkflow(ws) {
    document.querySelectorAll('[data-workflow="' + CSS.escape(ws.name) + '"]').forEach(function (row) {
      setHealth(field(row, "health"), ws);
      setText(field(row, "reason"), ws.reason || "");
      setText(field(row, "version"), version(ws));
      setSync(field(row, "sync"), ws.sync);
      setText(field(row, "sync-message"), (ws.sync && ws.sync.message) || "");
      setText(field(row, "drift"), drift(ws.drift));
      setText(field(row, "cluster"), ws.cluster || "");
    });
    if (body.dataset.workflowPage !== ws.name) return;
    // A page loaded before the workflow had a status shows it from now on.
    const none = document.querySelector('[data-field="no-status"]');
    if (none) none.remove();
    document.querySelectorAll("dl.summary[hidden]").forEach(function (dl) { dl.hidden = false; });
    const seen = {};
    (ws.nodes || []).forEach(function (n) { seen[n.id] = n; });
    document.querySelectorAll("g.node[data-node]").forEach(function (g) {
      const n = seen[g.dataset.node] || { health: ws.health === "NotWatched" ? "NotWatched" : "Unknown", reason: "no live objects seen" };
      g.setAttribute("class", "node health-" + n.health);
      g.dataset.health = n.health;
      setText(g.querySelector('[data-field="node-health"]'), (symbols[n.health] || "–") + " " + n.health);
      setText(g.querySelector('[data-field="node-figures"]'), nodeFigures(n));
      setText(g.querySelector("title"), g.dataset.node + ": " + n.health + (n.reason ? " — " + n.reason : ""));
      const d = document.querySelector('[data-node-detail="' + CSS.escape(g.dataset.node) + '"]');
      if (d) {
        setHealth(field(d, "node-health"), n);
        setText(field(d, "node-reason"), n.reason || "");
        setText(field(d, "node-figures"), nodeFigures(n));
      }
    });
  }
  function onCluster(cs) {
    document.querySelectorAll('[data-cluster="' + CSS.escape(cs.name) + '"]').forEach(function (row) {
      setHealth(field(row, "health"), cs);
      setText(field(row, "reason"), cs.reason || "");
      setText(field(row, "watched"), cs.watched ? "yes" : "no");
      setFlux(field(row, "source"), cs.source);
      setFlux(field(row, "kustomization"), cs.kustomization);
    });
  }

  // duration and buildNote say a build's time and note as the server's
  // buildDuration and buildNote do.
  function duration(b) {
    if (!b.completedAt) return "–";
    let s = Math.round((b.duration || 0) / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    s %= 60;
    return (h ? h + "h" : "") + (h || m ? m + "m" : "") + s + "s";
  }
  function buildNote(b) {
    if (b.status === "failed" || b.status === "cancelled") return b.error || "";
    if (b.writeBackSkipped) return "write-back skipped: " + b.writeBackSkipped;
    if (b.writeBack) return "written back in " + short(b.writeBack);
    return "";
  }
  // onBuild updates a build's row of its node's builds, or adds it on
  // top, from the empty row the server rendered, keeping as many builds
  // as the server shows.
  function onBuild(b) {
    if (body.dataset.workflowPage !== b.workflow) return;
    const sec = document.querySelector('[data-build-node="' + CSS.escape(b.node) + '"]');
    const empty = document.querySelector('template[data-field="build-row"]');
    if (!sec || !empty) return;
    let tr = sec.querySelector('tr[data-build="' + CSS.escape(b.id) + '"]');
    if (!tr) {
      const tbody = sec.querySelector("tbody");
      tr = empty.content.firstElementChild.cloneNode(true);
      tbody.insertBefore(tr, tbody.firstChild);
      const none = field(tbody, "no-builds");
      if (none) none.remove();
      const rows = tbody.querySelectorAll("tr[data-build]");
      for (let i = Number(empty.dataset.keep); i < rows.length; i++) rows[i].remove();
    }
    tr.dataset.build = b.id;
    tr.className = "build build-" + b.status;
    setText(field(tr, "build-id"), b.id);
    const commit = field(tr, "build-commit");
    setText(commit, short(b.commit));
    commit.title = (b.repoUrl || "") + " " + (b.branch || "");
    const step = field(tr, "build-step");
    step.className = "step step-" + b.status;
    setText(step, b.status);
    field(tr, "build-progress").value = b.progress || 0;
    setText(field(tr, "build-percent"), (b.progress || 0) + "%");
    setText(field(tr, "build-image"), b.finalImageRef || "–");
    setText(field(tr, "build-duration"), duration(b));
    setText(field(tr, "build-note"), buildNote(b));
  }

  // onDeleted takes a deleted build's row off the page, as the next load
  // would not show it.
  function onDeleted(d) {
    const id = (d.key || "").startsWith("builds/") ? d.key.slice("builds/".length) : "";
    if (!id) return;
    document.querySelectorAll('tr[data-build="' + CSS.escape(id) + '"]').forEach(function (tr) { tr.remove(); });
  }

  // The browser reconnects by itself after a dropped stream, with the last
  // event's id. A refused one (503: the service holds as many streams as it
  // may) closes the EventSource for good, so the page opens a new one, after
  // the last id it saw, once the service's Retry-After of 15 s has passed.
  let after = rev;
  function follow() {
    const es = new EventSource("/api/events?after=" + encodeURIComponent(after));
    es.onopen = function () { if (live) { live.textContent = "live"; live.classList.add("on"); } };
    es.onerror = function () {
      if (live) { live.textContent = "reconnecting…"; live.classList.remove("on"); }
      if (es.readyState === EventSource.CLOSED) setTimeout(follow, 15000);
    };
    function on(handle) {
      return function (e) {
        if (e.lastEventId) after = e.lastEventId;
        handle(JSON.parse(e.data));
      };
    }
    es.addEventListener("workflow", on(onWorkflow));
    es.addEventListener("cluster", on(onCluster));
    es.addEventListener("build", on(onBuild));
    es.addEventListener("deleted", on(onDeleted));
  }
  follow();
})();
