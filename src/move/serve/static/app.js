// move serve: the page. Vanilla JS, no build step; talks to the API in docs/serve.md.
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#e8590c", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c", "#5c940d",
                 "#364fc7", "#862e9c", "#d9480f", "#087f5b"];
const state = { model: null, latent: null, extent: 3, stroke: [], drawn: null, rendered: null,
                point: null, pointBusy: false, pointNext: null, dragging: false };

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function api(url, options) {
  const resp = await fetch(url, options);
  let body;
  try { body = await resp.json(); } catch (e) { body = { error: `${resp.status} ${resp.statusText}` }; }
  if (!resp.ok) throw new Error(body.error || `${resp.status} ${resp.statusText}`);
  return body;
}

// A job answered 202: poll it, showing a running indicator with the elapsed seconds.
async function pollJob(first, status, text) {
  status.hidden = false;
  let body = first;
  while (body.state === "queued" || body.state === "running") {
    text.textContent = `${body.state}... ${(body.elapsed || 0).toFixed(1)} s`;
    await new Promise((r) => setTimeout(r, 400));
    body = await api(`/api/jobs/${first.job}`);
  }
  status.hidden = true;
  if (body.state === "error") throw new Error(body.error);
  text.textContent = "";
  return { ...body.result, elapsed: body.elapsed };
}

function showOutputs(container, result, label) {
  container.innerHTML = "";
  const note = document.createElement("p");
  note.className = "note";
  const said = [];
  if (result.identified) said.push(`source: ${result.identified.message}`);
  else if (result.source) said.push(`source: ${result.source}`);
  if (result.elapsed !== undefined) said.push(`${result.elapsed.toFixed(1)} s`);
  (result.messages || []).filter((m) => !m.includes(" -> ") && !(result.identified && m === result.identified.message))
    .forEach((m) => said.push(m));
  note.textContent = said.join(" \u00b7 ");
  container.appendChild(note);
  for (const out of result.outputs) {
    const box = document.createElement("div");
    box.className = out.image && out.image.includes("_summary") ? "result wide" : "result";
    box.dataset.target = out.target;
    const title = document.createElement("h4");
    title.textContent = `${label} ${out.target}`;
    const audio = document.createElement("audio");
    audio.controls = true; audio.preload = "auto"; audio.src = out.audio;
    box.append(title, audio);
    if (out.image) {
      const img = document.createElement("img");
      img.src = out.image; img.alt = `spectrogram: ${out.target}`;
      box.appendChild(img);
    }
    const link = document.createElement("a");
    link.href = out.audio; link.download = decodeURIComponent(out.audio.split("/").pop());
    link.textContent = "download WAV";
    box.appendChild(link);
    container.appendChild(box);
  }
}

// ------------------------------------------------------------------ model and forms
function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text || value;
  select.appendChild(o);
}

function fillModel(model) {
  state.model = model;
  $("model-card").textContent = model.text;
  model.instruments.forEach((name, i) => {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${name}"${i < 2 ? "" : ""}> ${name}`;
    $("targets").appendChild(label);
    option($("source"), name);
    option($("pad-instrument"), name);
    option($("transfer-to"), name);
  });
  $("targets").querySelector("input").checked = true;
  padInstrumentChanged();
}

function noteName(midi) {
  const names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
  return names[midi % 12] + (Math.floor(midi / 12) - 1);
}

function padInstrumentChanged() {
  const range = state.model.pitch_ranges[$("pad-instrument").value];
  if (range) {
    $("pad-range").textContent = `trained ${range.notes}`;
    $("pad-note").value = noteName(Math.round((range.midi[0] + range.midi[1]) / 2));
  }
}

function setupTransfer() {
  const drop = $("drop"), input = $("file");
  const chosen = () => {
    const f = input.files[0];
    drop.classList.toggle("chosen", !!f);
    $("drop-text").textContent = f ? `${f.name} (${(f.size / 1048576).toFixed(2)} MB)` : "Drop a recording here, or click to choose one";
  };
  input.addEventListener("change", chosen);
  ["dragenter", "dragover"].forEach((e) => drop.addEventListener(e, (ev) => { ev.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((e) => drop.addEventListener(e, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer.files.length) { input.files = ev.dataTransfer.files; chosen(); }
  });
  $("transfer-btn").addEventListener("click", runTransfer);
}

async function runTransfer() {
  const file = $("file").files[0];
  if (!file) { showError("choose or drop a recording first"); return; }
  const targets = [...$("targets").querySelectorAll("input:checked")].map((c) => c.value);
  if (!targets.length) { showError("tick at least one target instrument"); return; }
  const form = new FormData();
  form.append("file", file);
  form.append("targets", targets.join(","));
  if ($("source").value) form.append("source", $("source").value);
  const mode = document.querySelector("input[name=pitch-mode]:checked").value;
  if (mode === "note") form.append("pitch", $("pitch-note").value);
  if (mode === "midi") {
    const midi = $("pitch-midi").files[0];
    if (!midi) { showError("choose a MIDI file for the pitch"); return; }
    form.append("midi", midi);
  }
  form.append("wait", "0");
  const button = $("transfer-btn");
  button.disabled = true;
  $("results").innerHTML = "";
  try {
    const job = await api("/api/transfer", { method: "POST", body: form });
    const result = await pollJob(job, $("transfer-status"), $("transfer-text"));
    showOutputs($("results"), result, "to");
  } catch (e) {
    $("transfer-status").hidden = true;
    showError(e.message);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------ latent pad
function toCanvas(x, y) {
  const c = $("pad"), e = state.extent;
  return [(x + e) / (2 * e) * c.width, (1 - (y + e) / (2 * e)) * c.height];
}

function fromCanvas(px, py) {
  const c = $("pad"), e = state.extent;
  return [px / c.width * 2 * e - e, (1 - py / c.height) * 2 * e - e];
}

function drawPath(ctx, points, colour, width) {
  if (!points || points.length < 2) return;
  ctx.strokeStyle = colour; ctx.lineWidth = width;
  ctx.beginPath();
  points.forEach((p, i) => { const [x, y] = toCanvas(p[0], p[1]); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
  ctx.stroke();
}

function drawPad() {
  const c = $("pad"), ctx = c.getContext("2d"), e = state.extent;
  ctx.clearRect(0, 0, c.width, c.height);
  ctx.strokeStyle = "#e3e6ef"; ctx.lineWidth = 1; ctx.fillStyle = "#98a2b3"; ctx.font = "11px system-ui";
  for (let v = -Math.floor(e); v <= e; v++) {
    const [x] = toCanvas(v, 0), [, y] = toCanvas(0, v);
    ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, c.height); ctx.moveTo(0, y); ctx.lineTo(c.width, y); ctx.stroke();
    if (v) { ctx.fillText(String(v), x + 2, c.height / 2 - 3); ctx.fillText(String(v), c.width / 2 + 3, y - 2); }
  }
  ctx.fillText("z\u2081", c.width - 16, c.height / 2 + 14); ctx.fillText("z\u2082", c.width / 2 - 16, 12);
  const z3 = parseFloat($("z3").value);
  if (state.latent) {
    const insts = state.model.instruments;
    state.latent.z.forEach((z, i) => {
      const near = Math.exp(-((z[2] - z3) ** 2) / 0.5);
      ctx.globalAlpha = 0.15 + 0.75 * near;
      ctx.fillStyle = COLOURS[insts.indexOf(state.latent.instrument[i]) % COLOURS.length];
      const [x, y] = toCanvas(z[0], z[1]);
      ctx.beginPath(); ctx.arc(x, y, 2 + 2 * near, 0, 2 * Math.PI); ctx.fill();
    });
    ctx.globalAlpha = 1;
  }
  drawPath(ctx, state.drawn || state.stroke, "#1d2330", 2);
  drawPath(ctx, state.rendered, "#e03131", 2.5);
  if (state.point) {
    const [x, y] = toCanvas(state.point[0], state.point[1]);
    ctx.strokeStyle = "#e03131"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(x, y, 7, 0, 2 * Math.PI); ctx.stroke();
  }
}

function legend() {
  $("legend").innerHTML = "";
  state.model.instruments.forEach((name, i) => {
    const s = document.createElement("span");
    s.innerHTML = `<i style="background:${COLOURS[i % COLOURS.length]}"></i>${name}`;
    $("legend").appendChild(s);
  });
}

async function soundPoint(z) {
  if (state.pointBusy) { state.pointNext = z; return; }  // one request at a time: the latest point wins
  state.pointBusy = true;
  try {
    const body = { instrument: $("pad-instrument").value, note: $("pad-note").value, z, duration: 1.0 };
    const result = await api("/api/point", { method: "POST", headers: { "Content-Type": "application/json" },
                                              body: JSON.stringify(body) });
    const audio = $("pad-audio");
    audio.src = result.outputs[0].audio;
    audio.play().catch(() => {});
  } catch (e) {
    showError(e.message);
  } finally {
    state.pointBusy = false;
    if (state.pointNext) { const next = state.pointNext; state.pointNext = null; soundPoint(next); }
  }
}

function padEvent(ev) {
  const rect = $("pad").getBoundingClientRect();
  const [x, y] = fromCanvas((ev.clientX - rect.left) * $("pad").width / rect.width,
                            (ev.clientY - rect.top) * $("pad").height / rect.height);
  return [x, y, parseFloat($("z3").value)].map((v) => Math.round(v * 1000) / 1000);
}

function setupPad() {
  const pad = $("pad");
  let lastSound = 0;
  pad.addEventListener("pointerdown", (ev) => {
    pad.setPointerCapture(ev.pointerId);
    state.dragging = true; state.stroke = [padEvent(ev)]; state.drawn = null; state.rendered = null;
    state.point = state.stroke[0];
    drawPad();
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!state.dragging) return;
    const z = padEvent(ev);
    state.stroke.push(z); state.point = z;
    if ($("drag-sound").checked && Date.now() - lastSound > 250) { lastSound = Date.now(); soundPoint(z); }
    drawPad();
  });
  pad.addEventListener("pointerup", (ev) => {
    if (!state.dragging) return;
    state.dragging = false;
    const a = state.stroke[0], b = padEvent(ev);
    const moved = Math.hypot(...toCanvas(b[0], b[1]).map((v, i) => v - toCanvas(a[0], a[1])[i]));
    if (moved < 6) {
      state.stroke = []; state.point = b;
      soundPoint(b);
    } else {
      state.drawn = state.stroke; state.stroke = [];
      $("render-path").disabled = false;
    }
    $("pad-point").textContent = `(${b.map((v) => v.toFixed(2)).join(", ")})`;
    drawPad();
  });
  $("z3").addEventListener("input", () => { $("z3-value").textContent = parseFloat($("z3").value).toFixed(2); drawPad(); });
  $("pad-instrument").addEventListener("change", padInstrumentChanged);
  $("render-path").addEventListener("click", renderPath);
}

async function renderPath() {
  const pts = state.drawn;
  if (!pts || pts.length < 2) { showError("draw a path on the pad first"); return; }
  const body = { path: $("path-kind").value, instrument: $("pad-instrument").value, note: $("pad-note").value,
                 from_z: pts[0], to_z: pts[pts.length - 1], duration: parseFloat($("path-duration").value),
                 wait: false };
  if ($("transfer-to").value) body.transfer_to = $("transfer-to").value;
  const button = $("render-path");
  button.disabled = true;
  try {
    const job = await api("/api/synth", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify(body) });
    const result = await pollJob(job, $("path-status"), $("path-text"));
    state.rendered = result.path;
    drawPad();
    showOutputs($("path-results"), result, `${body.path} path,`);
  } catch (e) {
    $("path-status").hidden = true;
    showError(e.message);
  } finally {
    button.disabled = false;
  }
}

async function main() {
  setupTransfer();
  setupPad();
  try {
    fillModel(await api("/api/model"));
    legend();
    drawPad();
    state.latent = await api("/api/latent");
    $("scatter-source").textContent = `${state.latent.z.length} slices of the ${state.latent.source}`;
    const far = Math.max(3, ...state.latent.z.map((z) => Math.max(Math.abs(z[0]), Math.abs(z[1]))));
    state.extent = Math.ceil(far * 2) / 2;
    drawPad();
  } catch (e) {
    showError(e.message);
  }
}

main();
