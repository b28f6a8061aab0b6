// The dashboard: a plain client of the public API, no build step. The key
// stays in this browser's local storage and is sent only to this server, as
// a bearer token. Two views: the home (submit, tasks, providers, stats) and
// a task's page (#/task/<id>).
"use strict";

const API = "/api/v1/media";
const KEY = "mediatasks-key";
const UPLOADS = "mediatasks-uploads"; // upload_id -> signed URL, for the audio player
const BATCHES = "mediatasks-batches"; // recent batch ids, newest first
const TERMINAL = ["completed", "failed", "canceled"];
const $ = (id) => document.getElementById(id);

let listTimer = 0;
let healthTimer = 0;
let statsTimer = 0;
let deliveriesTimer = 0;
let lastDeliveries = "";
let stream = null; // the AbortController of the task page's event stream
let cursor = "";
let lastList = "";
const samples = {}; // provider -> [{p50, p95}]

// el builds an element with attributes and children (strings become text).
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function key() { return localStorage.getItem(KEY) || ""; }

// call sends one API request with the key; a JSON body is encoded, a Blob
// is sent raw with its type. It throws an Error with the problem's details.
async function call(path, { method = "GET", body, signal } = {}) {
  const headers = { "Authorization": "Bearer " + key() };
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(API + path, { method, headers, body: payload, signal });
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { detail: text }; }
  if (!res.ok) {
    if (res.status === 401) signOut("the key was refused (401)");
    const fields = (data.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    const err = new Error(`${res.status} ${data.title || ""} ${data.detail || ""} ${fields}`.replace(/\s+/g, " ").trim());
    err.status = res.status;
    throw err;
  }
  return data;
}

function when(t) { return t ? new Date(t).toLocaleString() : ""; }
function usd(c) { return c && typeof c.usd === "number" ? "$" + c.usd.toFixed(4) + (c.estimated ? " (est.)" : "") : ""; }
function short(id) { return id ? id.slice(-8) : ""; }

// ---- sign in

function signOut(reason) {
  localStorage.removeItem(KEY);
  $("signin-error").textContent = reason || "";
  route();
}

$("key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const k = $("key").value.trim();
  localStorage.setItem(KEY, k);
  try {
    await call("/tasks?limit=1");
    $("key").value = "";
    $("signin-error").textContent = "";
    location.hash = "#/";
    route();
  } catch (err) {
    localStorage.removeItem(KEY);
    $("signin-error").textContent = "Sign in failed: " + err.message;
  }
});
$("signout").addEventListener("click", () => signOut(""));

// ---- routing

function stopTimers() {
  clearInterval(listTimer); clearInterval(statsTimer); clearInterval(deliveriesTimer);
  listTimer = statsTimer = deliveriesTimer = 0;
  if (stream) { stream.abort(); stream = null; }
}

function route() {
  stopTimers();
  const signedIn = !!key();
  $("signin").hidden = signedIn;
  $("who").hidden = !signedIn;
  const m = location.hash.match(/^#\/task\/([^/?#]+)$/);
  $("home").hidden = !signedIn || !!m;
  $("task").hidden = !signedIn || !m;
  if (!signedIn) { $("key").focus(); return; }
  if (m) {
    showTask(decodeURIComponent(m[1]));
  } else {
    lastList = "";
    loadList(true);
    listTimer = setInterval(() => loadList(true), 2000);
    loadStats();
    statsTimer = setInterval(loadStats, 5000);
  }
}
window.addEventListener("hashchange", () => { route(); $("main").focus(); });

// ---- health and providers (the health route needs no key)

async function health() {
  let h;
  try {
    const res = await fetch(API + "/health");
    h = await res.json();
  } catch {
    h = { status: "down", providers: {} };
  }
  $("health").textContent = "server " + h.status;
  $("health").className = "badge " + h.status;
  const rows = [];
  const names = [];
  for (const [name, p] of Object.entries(h.providers || {}).sort()) {
    const d = (p.detail && typeof p.detail === "object") ? p.detail : {};
    names.push(name);
    (samples[name] = samples[name] || []).push({ p50: d.latency_p50_ms || 0, p95: d.latency_p95_ms || 0 });
    if (samples[name].length > 60) samples[name].shift();
    rows.push(el("tr", {},
      el("th", { scope: "row", text: name }),
      el("td", { class: "st-" + p.status, text: p.status }),
      el("td", { class: "br-" + (d.breaker || ""), text: d.breaker || "" }),
      el("td", { text: `${d.in_flight ?? ""}${d.max_concurrency ? " / " + d.max_concurrency : ""}` }),
      el("td", { text: fmtMs(d.latency_p50_ms) }),
      el("td", { text: fmtMs(d.latency_p95_ms) }),
      el("td", { text: (d.task_types || []).join(", ") }),
      el("td", { text: d.simulated ? "yes" : "no" })));
  }
  $("providers").replaceChildren(...rows);
  const list = $("provider-names") || document.body.appendChild(el("datalist", { id: "provider-names" }));
  list.replaceChildren(...names.map((n) => el("option", { value: n })));
  chart();
}

function fmtMs(v) { return typeof v === "number" ? String(Math.round(v)) : ""; }

// chart draws each provider's p50 (solid) and p95 (dashed) samples as
// polylines in one inline SVG.
function chart() {
  const W = 600, H = 120, N = 60;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 14}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("aria-hidden", "true");
  let max = 1;
  for (const s of Object.values(samples)) for (const v of s) max = Math.max(max, v.p95, v.p50);
  const names = Object.keys(samples).sort();
  names.forEach((name, i) => {
    const s = samples[name];
    for (const [field, dash] of [["p50", ""], ["p95", "4 3"]]) {
      const pts = s.map((v, j) => `${(j * W / (N - 1)).toFixed(1)},${(H - v[field] / max * (H - 4)).toFixed(1)}`).join(" ");
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", pts);
      line.setAttribute("class", "series s" + (i % 6));
      if (dash) line.setAttribute("stroke-dasharray", dash);
      svg.appendChild(line);
    }
  });
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "0"); label.setAttribute("y", String(H + 12));
  label.textContent = `max ${Math.round(max)} ms — solid p50, dashed p95`;
  svg.appendChild(label);
  const legend = el("ul", { class: "legend" }, ...names.map((n, i) => el("li", { class: "s" + (i % 6), text: n })));
  $("chart").replaceChildren(svg, legend);
}

// ---- stats

async function loadStats() {
  try {
    const s = await call("/stats");
    const types = Object.keys(s.counts || {}).sort();
    const statuses = ["queued", "running", "completed", "failed", "canceled"];
    const counts = el("table", {},
      el("caption", { text: "Tasks by type and status" }),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "type" }), ...statuses.map((x) => el("th", { scope: "col", text: x })))),
      el("tbody", {}, ...types.map((t) => el("tr", {}, el("th", { scope: "row", text: t }),
        ...statuses.map((x) => el("td", { text: String((s.counts[t] || {})[x] || 0) }))))));
    const spend = el("table", {},
      el("caption", { text: "Spend by day, type and provider" }),
      el("thead", {}, el("tr", {}, ...["day", "type", "provider", "tasks", "USD"].map((x) => el("th", { scope: "col", text: x })))),
      el("tbody", {}, ...(s.spend || []).map((r) => el("tr", {},
        el("td", { text: r.day }), el("td", { text: r.task_type }), el("td", { text: r.provider }),
        el("td", { text: String(r.tasks) }), el("td", { text: "$" + r.usd.toFixed(4) })))));
    const provs = Object.entries(s.providers || {});
    const perProvider = el("table", {},
      el("caption", { text: "Your tasks by provider" }),
      el("thead", {}, el("tr", {}, ...["provider", "completed", "failed", "mean s", "p95 s"].map((x) => el("th", { scope: "col", text: x })))),
      el("tbody", {}, ...provs.map(([n, p]) => el("tr", {}, el("th", { scope: "row", text: n }),
        el("td", { text: String(p.completed) }), el("td", { text: String(p.failed) }),
        el("td", { text: p.mean_seconds.toFixed(2) }), el("td", { text: p.p95_seconds.toFixed(2) })))));
    const p = s.prompts || {};
    $("stats").replaceChildren(
      el("p", { class: "figures" },
        el("span", { text: `total ${s.total}` }), el("span", { text: `succeeded ${s.succeeded}` }),
        el("span", { text: `failed ${s.failed}` }), el("span", { text: `success ${(s.success_rate * 100).toFixed(1)}%` }),
        el("span", { text: `spend $${(s.spend_usd || 0).toFixed(4)}` }),
        el("span", { text: `prompts optimised ${p.optimized || 0}, cache hits ${p.cache_hits || 0}` })),
      el("div", { class: "tables" }, el("div", {}, counts), el("div", {}, perProvider), el("div", {}, spend)));
  } catch (err) {
    if (err.status !== 401) $("stats").textContent = err.message;
  }
}

// ---- task list (polled every 2 s: live, one request for every task shown)

function filterQuery() {
  const q = new URLSearchParams({ limit: "25" });
  if ($("f-type").value) q.set("task_type", $("f-type").value);
  if ($("f-status").value) q.set("status", $("f-status").value);
  if ($("f-batch").value.trim()) q.set("batch_id", $("f-batch").value.trim());
  return q;
}

async function loadList(reset) {
  const q = filterQuery();
  if (!reset && cursor) q.set("cursor", cursor);
  try {
    const page = await call("/tasks?" + q);
    // The listing has no priority filter: it is applied to the page here.
    const pr = $("f-priority").value;
    const tasks = (page.tasks || []).filter((t) => !pr || t.priority === pr);
    $("list-error").textContent = "";
    if (reset) {
      const sig = JSON.stringify(tasks);
      if (sig === lastList) return;
      lastList = sig;
      if (statsTimer) loadStats(); // the counts moved with the list
      $("tasks").replaceChildren(...tasks.map(row));
      if (!tasks.length) $("tasks").append(el("tr", {}, el("td", { colspan: "10", text: "No tasks yet." })));
    } else {
      $("tasks").append(...tasks.map(row));
      clearInterval(listTimer); // paging stops the refresh, until the filters change
      listTimer = 0;
    }
    cursor = page.next_cursor || "";
    $("more").hidden = !cursor;
    if (reset) rememberBatches((page.tasks || []).map((t) => t.batch_id).filter(Boolean));
    loadBatches();
  } catch (err) {
    if (err.status !== 401) $("list-error").textContent = err.message;
  }
}

function row(t) {
  return el("tr", { "data-id": t.id, "data-status": t.status },
    el("td", { text: when(t.created_at) }),
    el("td", { text: t.task_type }),
    el("td", { class: "status st-" + t.status, title: t.error ? `${t.error.code}: ${t.error.message}` : null, text: t.status }),
    el("td", {}, el("progress", { max: "1", value: String(t.progress || 0), "aria-label": "progress" }), " " + Math.round((t.progress || 0) * 100) + "%"),
    el("td", { text: t.priority }),
    el("td", { text: t.provider || "" }),
    el("td", {}, t.batch_id ? el("button", { type: "button", class: "link", title: "show only this batch", "aria-label": `show only batch ${t.batch_id}`, text: short(t.batch_id), onclick: () => filterBatch(t.batch_id) }) : ""),
    el("td", { text: String(t.attempts || 0) }),
    el("td", { text: usd(t.cost) }),
    el("td", {}, el("a", { href: "#/task/" + encodeURIComponent(t.id), class: "id", "aria-label": `open ${t.task_type} task ${t.id}`, text: short(t.id) })));
}

// ---- batches: those submitted here and those seen in the list, with
// their progress (the batch's counts; one request per batch still running).

const batchCache = {}; // id -> the last batch read, kept once it completed

function rememberBatches(ids) {
  const known = JSON.parse(localStorage.getItem(BATCHES) || "[]");
  const merged = [...new Set([...ids, ...known])].slice(0, 10);
  if (merged.join() !== known.join()) localStorage.setItem(BATCHES, JSON.stringify(merged));
}

let batchesBusy = false;
async function loadBatches() {
  if (batchesBusy) return;
  batchesBusy = true;
  try {
    const ids = JSON.parse(localStorage.getItem(BATCHES) || "[]");
    const read = await Promise.all(ids.map(async (id) => {
      if (batchCache[id] && batchCache[id].status === "completed") return batchCache[id];
      try {
        return (batchCache[id] = await call("/batches/" + encodeURIComponent(id)));
      } catch (err) {
        if (err.status === 404) return null; // another user's, or gone
        throw err;
      }
    }));
    const batches = read.filter(Boolean);
    $("batches-error").textContent = "";
    if (!batches.length) {
      $("batches").replaceChildren(el("tr", {}, el("td", { colspan: "9", text: "No batches yet." })));
      return;
    }
    $("batches").replaceChildren(...batches.map(batchRow));
  } catch (err) {
    if (err.status !== 401) $("batches-error").textContent = err.message;
  } finally {
    batchesBusy = false;
  }
}

function batchRow(b) {
  const c = b.counts || {};
  const total = (b.task_ids || []).length || 1;
  const ended = (c.completed || 0) + (c.failed || 0) + (c.canceled || 0);
  return el("tr", { "data-batch": b.id, "data-status": b.status },
    el("td", { text: when(b.created_at) }),
    el("td", {}, el("button", { type: "button", class: "link", title: "show only this batch", "aria-label": `show the tasks of batch ${b.id}`, text: short(b.id), onclick: () => filterBatch(b.id) })),
    el("td", { class: "status st-" + b.status, text: b.status }),
    el("td", {}, el("progress", { max: String(total), value: String(ended), "aria-label": "tasks ended" }), ` ${ended}/${total}`),
    ...["queued", "running", "completed", "failed", "canceled"].map((k) => el("td", { text: String(c[k] || 0) })));
}

function filterBatch(id) {
  $("f-batch").value = id;
  $("f-batch").dispatchEvent(new Event("change"));
}

for (const id of ["f-type", "f-status", "f-priority", "f-batch"]) {
  $(id).addEventListener("change", () => {
    lastList = "";
    loadList(true);
    if (!listTimer) listTimer = setInterval(() => loadList(true), 2000);
  });
}
$("filters").addEventListener("submit", (e) => e.preventDefault());
$("more").addEventListener("click", () => loadList(false));

// ---- submit

function showFields() {
  const kind = $("task-type").value;
  for (const label of document.querySelectorAll("#submit-form [data-for]")) {
    label.hidden = !label.dataset.for.split(" ").includes(kind);
  }
  const needsPrompt = kind === "image" || kind === "video";
  $("prompt").required = needsPrompt;
  $("prompt-hint").textContent = needsPrompt ? "(required)" : "(optional: a hint of names and terms for the recogniser)";
}
$("task-type").addEventListener("change", showFields);
showFields();

const ROUTES = { image: "/images/generate", video: "/videos/generate", transcription: "/audio/transcribe", subtitles: "/subtitles/generate" };
const TYPES = { image: "image_generation", video: "video_generation", transcription: "audio_transcription", subtitles: "subtitle_generation" };

async function upload(file) {
  const up = await call("/uploads", { method: "POST", body: file });
  const known = JSON.parse(localStorage.getItem(UPLOADS) || "{}");
  known[up.upload_id] = up.url;
  localStorage.setItem(UPLOADS, JSON.stringify(known));
  return up.upload_id;
}

async function buildRequest() {
  const kind = $("task-type").value;
  const r = { priority: $("priority").value };
  const v = (id) => $(id).value.trim();
  if (v("provider")) r.provider = v("provider");
  if (v("prompt")) r.prompt = $("prompt").value;
  if (v("opt-mode")) r.prompt_optimization = { mode: v("opt-mode") };
  if (v("webhook-url")) r.webhook_url = v("webhook-url");
  if (kind === "image") {
    if (v("negative-prompt")) r.negative_prompt = v("negative-prompt");
    r.size = v("size");
    r.n = Number(v("n") || 1);
    if (v("style")) r.style = v("style");
  } else if (kind === "video") {
    r.duration_seconds = Number(v("duration") || 5);
    r.aspect_ratio = v("aspect");
    const f = $("image-file").files[0];
    if (f) r.image_upload_id = await upload(f);
  } else {
    const f = $("audio-file").files[0];
    if (f) r.upload_id = await upload(f);
    else if (v("audio-url")) r.audio_url = v("audio-url");
    else if (kind === "subtitles" && v("transcription-id")) r.transcription_task_id = v("transcription-id");
    if (v("language")) r.language = v("language");
    if (kind === "subtitles") {
      r.format = v("format");
      r.max_line_chars = Number(v("max-line") || 42);
    }
  }
  return { kind, r };
}

$("submit-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = $("submit-result");
  out.className = "";
  out.textContent = "submitting…";
  try {
    const { kind, r } = await buildRequest();
    const copies = Number($("copies").value || 1);
    if (copies > 1) {
      // A batch of copies: the same input, each its own task.
      const { priority, webhook_url, ...input } = r;
      const b = await call("/batches", { method: "POST", body: {
        tasks: Array.from({ length: copies }, () => ({ task_type: TYPES[kind], input_data: input, priority })),
        webhook_url,
      } });
      rememberBatches([b.id]);
      out.replaceChildren(`batch of ${b.task_ids.length} ${b.status} `, el("button", { type: "button", class: "link", id: "submitted-batch", "data-id": b.id, text: `batch ${b.id}`, onclick: () => filterBatch(b.id) }));
      lastList = "";
      loadList(true);
      return;
    }
    const t = await call(ROUTES[kind], { method: "POST", body: r });
    out.replaceChildren(`${t.status} `, el("a", { href: "#/task/" + encodeURIComponent(t.id), id: "submitted", "data-id": t.id, text: `${t.task_type} ${t.id}` }));
    lastList = "";
    loadList(true);
  } catch (err) {
    out.className = "error";
    out.textContent = err.message;
  }
});

$("preview-btn").addEventListener("click", async () => {
  const kind = $("task-type").value;
  const box = $("prompt-preview");
  const body = { task_type: TYPES[kind], prompt: $("prompt").value, prompt_optimization: { mode: $("opt-mode").value || "auto" } };
  if (kind === "image" && $("negative-prompt").value.trim()) body.negative_prompt = $("negative-prompt").value.trim();
  if ($("provider").value.trim()) body.provider = $("provider").value.trim();
  try {
    const p = await call("/prompts/optimize", { method: "POST", body });
    box.replaceChildren(el("h3", { text: "Prompt preview" }), promptView(p));
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: err.message }));
  }
});

function promptView(p) {
  if (!p) return el("p", { text: "none" });
  const rows = [["final", p.final], ["original", p.original], ["negative", p.negative_prompt], ["mode", p.mode],
    ["template", p.template], ["stages", (p.stages || []).join(", ")], ["provider", p.provider],
    ["cache hit", String(!!p.cache_hit)], ["truncated", String(!!p.truncated)], ["provider's revision", p.provider_revised_prompt]];
  return el("dl", { class: "summary" }, ...rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

// ---- the task page

async function showTask(id) {
  $("t-id").textContent = id;
  for (const x of ["t-summary", "preview", "input-media", "t-input", "t-prompt", "t-attempts", "t-events", "t-deliveries", "task-error"]) $(x).replaceChildren();
  $("t-status").textContent = "";
  $("t-cancel").hidden = true;
  let t;
  try {
    t = await call("/tasks/" + encodeURIComponent(id));
  } catch (err) {
    $("task-error").textContent = err.message;
    return;
  }
  renderTask(t);
  lastDeliveries = "";
  loadDeliveries(id);
  deliveriesTimer = setInterval(() => loadDeliveries(id), 2000); // deliveries have no stream
  followEvents(id);
}

let shownOutput = "";

function renderTask(t) {
  $("task").dataset.status = t.status;
  $("t-status").textContent = t.status;
  $("t-status").className = "status badge st-" + t.status;
  $("t-cancel").hidden = TERMINAL.includes(t.status);
  $("t-cancel").dataset.id = t.id;
  const items = [["type", t.task_type], ["priority", t.priority], ["provider", t.provider],
    ["progress", Math.round((t.progress || 0) * 100) + "%"], ["attempts", String(t.attempts || 0)],
    ["cost", t.cost ? `${usd(t.cost)} (prices ${t.cost.price_version})` : ""], ["created", when(t.created_at)],
    ["started", when(t.started_at)], ["completed", when(t.completed_at)], ["batch", t.batch_id],
    ["webhook", t.webhook_url], ["error", t.error ? `${t.error.code}: ${t.error.message}` : ""]];
  $("t-summary").replaceChildren(...items.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  $("t-input").textContent = JSON.stringify(t.input_data, null, 2);
  $("t-prompt").replaceChildren(t.optimized_prompt ? promptView(t.optimized_prompt) : "not optimised");
  $("t-attempts").replaceChildren(...(t.attempt_history || []).map((a) => el("tr", {},
    el("td", { text: a.provider }), el("td", { text: when(a.started_at) }),
    el("td", { text: a.outcome }), el("td", { text: a.error || "" }))));
  inputMedia(t);
  const sig = JSON.stringify([t.status, t.output_data]);
  if (sig !== shownOutput) { shownOutput = sig; preview(t); }
}

function inputMedia(t) {
  const inp = t.input_data || {};
  const known = JSON.parse(localStorage.getItem(UPLOADS) || "{}");
  const audio = inp.audio_url || (inp.upload_id && known[inp.upload_id]);
  const image = inp.image_url || (inp.image_upload_id && known[inp.image_upload_id]);
  const kids = [];
  if (audio && !$("input-audio")) kids.push(el("audio", { id: "input-audio", controls: true, src: audio, "aria-label": "input audio", preload: "metadata" }));
  if (image && !$("input-image")) kids.push(el("img", { id: "input-image", src: image, alt: "input image", class: "media" }));
  if (kids.length) $("input-media").append(...kids);
}

// preview shows the output: images, video and audio by their signed URLs
// (no key needed), text files (transcripts, subtitles, a result too large
// to show inline) fetched and shown as text.
function preview(t) {
  const box = $("preview");
  const out = t.output_data;
  if (!out) { box.replaceChildren(el("p", { text: TERMINAL.includes(t.status) ? "no output" : "not ready yet" })); return; }
  const kids = [];
  if (out.text) kids.push(el("h4", { text: "Text" }), el("pre", { class: "text", text: out.text }));
  if (out.files_removed) kids.push(el("p", { text: "The files have been removed (past their retention)." }));
  (out.files || []).forEach((f, i) => {
    const ct = f.content_type || "";
    const name = `output ${i + 1} (${ct}, ${f.size_bytes} bytes)`;
    if (!f.url) { kids.push(el("p", { text: name })); return; }
    if (ct.startsWith("image/")) kids.push(el("figure", {}, el("img", { src: f.url, alt: name, class: "media" }), el("figcaption", {}, el("a", { href: f.url, text: name }))));
    else if (ct.startsWith("video/")) kids.push(el("figure", {}, el("video", { src: f.url, controls: true, class: "media", "aria-label": name, preload: "metadata" }), el("figcaption", {}, el("a", { href: f.url, text: name }))));
    else if (ct.startsWith("audio/")) kids.push(el("figure", {}, el("audio", { src: f.url, controls: true, "aria-label": name }), el("figcaption", {}, el("a", { href: f.url, text: name }))));
    else {
      const pre = el("pre", { class: "text", text: "loading…" });
      kids.push(el("h4", {}, el("a", { href: f.url, text: name })), pre);
      fetch(f.url).then((r) => r.ok ? r.text() : Promise.reject(new Error(String(r.status))))
        .then((s) => { pre.textContent = f.role === "result" ? prettyJSON(s) : s; })
        .catch((err) => { pre.textContent = "could not load: " + err.message; });
    }
  });
  if (out.extra && Object.keys(out.extra).length) kids.push(el("details", {}, el("summary", { text: "extra" }), el("pre", { text: JSON.stringify(out.extra, null, 2) })));
  if (out.files_expire_at) kids.push(el("p", { class: "hint", text: "files kept until " + when(out.files_expire_at) }));
  box.replaceChildren(...kids);
}

function prettyJSON(s) { try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return s; } }

// followEvents reads the task's server-sent events with fetch (EventSource
// cannot send the key), parsing id/event/data lines; each event carries the
// task as it was, which redraws the page. The server closes the stream after
// a terminal status; a dropped stream resumes after the last id.
async function followEvents(id) {
  if (stream) stream.abort();
  const ctl = new AbortController();
  stream = ctl;
  let last = "";
  let ended = false;
  for (let tries = 0; !ended && !ctl.signal.aborted && tries < 20; tries++) {
    try {
      const headers = { "Authorization": "Bearer " + key(), "Accept": "text/event-stream" };
      if (last) headers["Last-Event-ID"] = last;
      const res = await fetch(`${API}/tasks/${encodeURIComponent(id)}/events`, { headers, signal: ctl.signal });
      if (!res.ok) throw new Error("events: " + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      let ev = { id: "", event: "message", data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.search(/\r?\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf[nl] === "\r" ? 2 : 1));
          if (line === "") {
            if (ev.data.length) {
              if (ev.id) last = ev.id;
              if (onEvent(ev)) ended = true;
            }
            ev = { id: "", event: "message", data: [] };
            continue;
          }
          if (line.startsWith(":")) continue;
          const c = line.indexOf(":");
          const field = c < 0 ? line : line.slice(0, c);
          const val = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (field === "id") ev.id = val;
          else if (field === "event") ev.event = val;
          else if (field === "data") ev.data.push(val);
        }
      }
      if (!ended) await new Promise((r) => setTimeout(r, 1000));
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 401) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  if (stream === ctl && !ctl.signal.aborted) loadDeliveries(id);
}

// onEvent adds one event to the timeline and redraws the task; it says
// whether the task has ended.
function onEvent(ev) {
  let t = null;
  try { t = JSON.parse(ev.data.join("\n")); } catch { /* not a task */ }
  const at = t && (t.updated_at || t.created_at);
  $("t-events").append(el("li", { "data-event": ev.event },
    el("strong", { text: ev.event }), " ", el("time", { datetime: at || "", text: when(at) }),
    t ? ` ${t.status} ${Math.round((t.progress || 0) * 100)}%${t.provider ? " on " + t.provider : ""}` : ""));
  if (t && t.id) renderTask(t);
  return !!(t && TERMINAL.includes(t.status));
}

$("t-cancel").addEventListener("click", async () => {
  const id = $("t-cancel").dataset.id;
  $("t-cancel").disabled = true;
  try {
    const t = await call(`/tasks/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    renderTask(t);
  } catch (err) {
    $("task-error").textContent = "cancel: " + err.message;
  } finally {
    $("t-cancel").disabled = false;
  }
});

async function loadDeliveries(id) {
  const box = $("t-deliveries");
  try {
    const list = await call(`/tasks/${encodeURIComponent(id)}/deliveries?limit=50`);
    const ds = list.deliveries || [];
    const sig = JSON.stringify(ds);
    if (sig === lastDeliveries) return; // redrawn only when changed: keeps the focus on a button
    lastDeliveries = sig;
    if (!ds.length) { box.replaceChildren(el("p", { text: "No webhook deliveries." })); return; }
    const full = await Promise.all(ds.map((d) => call("/deliveries/" + encodeURIComponent(d.id)).catch(() => d)));
    box.replaceChildren(...full.map((d) => deliveryView(d)));
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: err.message }));
  }
}

function deliveryView(d) {
  const attempts = d.attempts || (d.last_attempt ? [d.last_attempt] : []);
  const replay = el("button", { type: "button", text: "Replay", "aria-label": `replay ${d.event_type} delivery ${d.id}` });
  const note = el("span", { role: "status" });
  replay.addEventListener("click", async () => {
    replay.disabled = true;
    try {
      await call(`/deliveries/${encodeURIComponent(d.id)}/retry`, { method: "POST" });
      note.textContent = " replay queued";
    } catch (err) {
      note.textContent = " " + err.message;
    } finally {
      replay.disabled = false;
    }
  });
  return el("article", { class: "delivery" },
    el("h4", {}, `${d.event_type} → `, el("code", { text: d.url })),
    el("p", {}, `${d.status}, ${d.attempt_count} attempt(s)${d.status === "pending" ? "; next " + when(d.next_attempt_at) : ""} `, replay, note),
    el("table", {},
      el("thead", {}, el("tr", {}, ...["at", "outcome", "HTTP", "latency ms", "error / response"].map((x) => el("th", { scope: "col", text: x })))),
      el("tbody", {}, ...attempts.map((a) => el("tr", {},
        el("td", { text: when(a.at) }), el("td", { text: a.outcome }), el("td", { text: a.status_code ? String(a.status_code) : "" }),
        el("td", { text: String(Math.round(a.latency_ms)) }), el("td", { text: a.error || a.response || "" }))))));
}

// ---- start

health();
healthTimer = setInterval(health, 5000);
route();
