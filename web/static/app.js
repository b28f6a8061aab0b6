// The dashboard: a plain client of the public API. The key stays in this
// browser's local storage and is sent only to this server.
const API = "/api/v1/media";
const $ = (id) => document.getElementById(id);
let cursor = "";
let stream = null;

$("key").value = localStorage.getItem("mediatasks-key") || "";

function headers() {
  return { "Authorization": "Bearer " + $("key").value.trim(), "Content-Type": "application/json" };
}

async function call(path, init = {}) {
  const res = await fetch(API + path, { ...init, headers: headers() });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const fields = (body.errors || []).map((e) => `${e.field}: ${e.message}`).join("; ");
    throw new Error(`${res.status} ${body.title || ""} ${body.detail || ""} ${fields}`.trim());
  }
  return body;
}

async function health() {
  const res = await fetch(API + "/health");
  const h = await res.json().catch(() => ({ status: "down" }));
  $("health").textContent = h.status;
  $("health").className = "badge " + h.status;
}

function row(t) {
  const tr = document.createElement("tr");
  const cells = [new Date(t.created_at).toLocaleString(), t.task_type, t.status,
    Math.round((t.progress || 0) * 100) + "%", t.priority, t.provider || "", String(t.attempts || 0), t.id];
  cells.forEach((v, i) => {
    const td = document.createElement("td");
    td.textContent = v;
    if (i === 2) td.className = "status-" + v;
    if (i === 7) td.className = "id";
    if (i === 2 && t.error) td.title = `${t.error.code}: ${t.error.message}`;
    tr.appendChild(td);
  });
  tr.appendChild(outputCell(t));
  const td = document.createElement("td");
  const follow = document.createElement("button");
  follow.textContent = "Events";
  follow.onclick = () => followTask(t.id);
  td.appendChild(follow);
  if (!["completed", "failed", "canceled"].includes(t.status)) {
    const cancel = document.createElement("button");
    cancel.textContent = "Cancel";
    cancel.onclick = async () => { await call(`/tasks/${t.id}/cancel`, { method: "POST" }).catch(alert); load(true); };
    td.appendChild(cancel);
  }
  tr.appendChild(td);
  return tr;
}

// outputCell links a completed task's files (signed URLs), with a
// thumbnail for images.
function outputCell(t) {
  const td = document.createElement("td");
  const files = (t.output_data && t.output_data.files) || [];
  files.forEach((f, i) => {
    const a = document.createElement("a");
    a.href = f.url;
    a.target = "_blank";
    a.rel = "noopener";
    if (f.content_type.startsWith("image/")) {
      const img = document.createElement("img");
      img.src = f.url;
      img.alt = `output ${i + 1}`;
      img.className = "thumb";
      a.appendChild(img);
    } else {
      a.textContent = `${f.content_type} (${f.size_bytes} B)`;
    }
    td.appendChild(a);
  });
  return td;
}

async function load(reset) {
  if (reset) { cursor = ""; $("tasks").replaceChildren(); }
  try {
    const page = await call("/tasks?limit=25" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    page.tasks.forEach((t) => $("tasks").appendChild(row(t)));
    cursor = page.next_cursor || "";
    $("more").hidden = !cursor;
  } catch (e) {
    $("submit-result").textContent = e.message;
  }
}

// Server-sent events: the browser's EventSource cannot send headers, so the
// stream is read with fetch.
async function followTask(id) {
  if (stream) stream.abort();
  stream = new AbortController();
  $("events-for").textContent = id;
  $("events").textContent = "";
  try {
    const res = await fetch(`${API}/tasks/${id}/events`, { headers: headers(), signal: stream.signal });
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      $("events").textContent += value;
    }
    load(true);
  } catch (e) {
    if (e.name !== "AbortError") $("events").textContent += "\n" + e.message;
  }
}

$("key-form").onsubmit = (e) => {
  e.preventDefault();
  localStorage.setItem("mediatasks-key", $("key").value.trim());
  load(true);
};
$("submit-form").onsubmit = async (e) => {
  e.preventDefault();
  try {
    const t = await call("/images/generate", { method: "POST", body: JSON.stringify({
      prompt: $("prompt").value, size: $("size").value, priority: $("priority").value }) });
    $("submit-result").textContent = `queued ${t.id}`;
    load(true);
    followTask(t.id);
  } catch (err) {
    $("submit-result").textContent = err.message;
  }
};
$("refresh").onclick = () => load(true);
$("more").onclick = () => load(false);
health();
setInterval(health, 10000);
if ($("key").value) load(true);
