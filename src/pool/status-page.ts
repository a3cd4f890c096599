/**
 * The status page (`GET /`): one self-contained HTML document, no external resources, that reads
 * `/status` every two seconds and draws it. Text goes in through textContent only, so a job or
 * log message can never inject markup.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Anka pool service</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2430; background: #f6f7f9; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  .muted { color: #667085; }
  .badge { display: inline-block; padding: .1rem .5rem; border-radius: .6rem; font-weight: 600; }
  .ok { background: #d1fadf; color: #05603a; } .bad { background: #fee4e2; color: #912018; }
  .warn { background: #fef0c7; color: #93370d; }
  table { border-collapse: collapse; background: #fff; margin: .8rem 0; min-width: 40rem; }
  th, td { padding: .35rem .7rem; border-bottom: 1px solid #e4e7ec; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .bar { display: flex; height: .8rem; width: 14rem; background: #eef0f3; border-radius: .3rem; overflow: hidden; }
  .bar span { display: block; height: 100%; }
  .starting { background: #84adff; } .idle { background: #32d583; } .busy { background: #f79009; } .finishing { background: #98a2b3; }
  ul { list-style: none; padding: 0; margin: .4rem 0; background: #fff; max-width: 60rem; }
  li { padding: .25rem .6rem; border-bottom: 1px solid #f0f1f3; font-family: ui-monospace, monospace; font-size: 12px; }
  li.warn, li.error { background: #fffaeb; }
  section { margin-top: 1rem; }
</style>
</head>
<body>
<h1>Anka pool service: <span id="pool">…</span> <span id="health" class="badge">…</span></h1>
<div class="muted"><span id="time"></span> · <span id="pass"></span> · <span id="rate"></span></div>
<table>
  <thead><tr><th>class</th><th>queued</th><th>starting</th><th>idle</th><th>busy</th><th>finishing</th><th>VMs</th></tr></thead>
  <tbody id="classes"></tbody>
</table>
<section><strong>Problems</strong><ul id="errors"></ul></section>
<section><strong>Last events</strong><ul id="events"></ul></section>
<script>
  const $ = (id) => document.getElementById(id);
  const cell = (row, text) => { const td = document.createElement("td"); td.textContent = String(text); row.appendChild(td); return td; };
  function events(list, target) {
    target.replaceChildren(...(list.length ? list : [{ time: "", level: "info", msg: "none" }]).map((e) => {
      const li = document.createElement("li");
      li.className = e.level;
      li.textContent = (e.time ? e.time.slice(11, 19) + "  " : "") + e.msg;
      return li;
    }));
  }
  async function refresh() {
    try {
      const s = await (await fetch("status", { cache: "no-store" })).json();
      $("pool").textContent = s.pool;
      const h = $("health");
      h.textContent = s.refusedBy ? "refusing: another service holds the pool" : s.health.status;
      h.className = "badge " + (s.refusedBy ? "warn" : s.health.status === "ok" ? "ok" : "bad");
      $("time").textContent = "updated " + s.time.slice(11, 19) + " UTC";
      $("pass").textContent = s.lastPass ? "last pass " + s.lastPass.durationMs + " ms, planning " + s.lastPass.planCpuMs.toFixed(1) + " ms CPU" : "no pass yet";
      const r = s.rateLimit;
      $("rate").textContent = r && r.remaining !== undefined ? "Azure DevOps rate limit: " + r.remaining + " of " + (r.limit ?? "?") + " left" : "Azure DevOps rate limit: no headers (far from it)";
      $("classes").replaceChildren(...s.classes.map((c) => {
        const row = document.createElement("tr");
        row.dataset.class = c.name;
        for (const value of [c.name, c.queued, c.vms.starting, c.vms.idle, c.vms.busy, c.vms.finishing]) cell(row, value);
        const total = c.vms.starting + c.vms.idle + c.vms.busy + c.vms.finishing;
        const bar = document.createElement("div");
        bar.className = "bar";
        for (const phase of ["starting", "idle", "busy", "finishing"]) {
          const part = document.createElement("span");
          part.className = phase;
          part.style.width = total ? (100 * c.vms[phase]) / total + "%" : "0";
          bar.appendChild(part);
        }
        cell(row, "").replaceChildren(bar);
        return row;
      }));
      events(s.errors, $("errors"));
      events(s.events, $("events"));
      document.body.dataset.loaded = "yes";
    } catch (error) {
      $("health").textContent = "unreachable";
      $("health").className = "badge bad";
    }
  }
  refresh();
  setInterval(refresh, 2000);
</script>
</body>
</html>
`;
