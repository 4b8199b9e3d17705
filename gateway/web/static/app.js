// chargegate web UI: plain modern JS, no build step, no libraries. Served from the daemon
// (gateway/web); every value it shows carries its unit.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { role: "", csrf: "", live: null, history: { step_s: 10, points: [] }, es: null, sessions: [], events: [] };

// ---- formatting: units always shown -------------------------------------------------------

const nf = (d) => new Intl.NumberFormat("en-GB", { minimumFractionDigits: d, maximumFractionDigits: d });
// authText shows a begin entry's authorization (gateway/access Decision.Detail); a free session
// records auth=free.
const authText = (a) => (!a ? "–" : a.replace(/^auth=free(?=\s|$)/, "free charging (no token)"));
const fmt = {
  kw: (w) => nf(2).format((w || 0) / 1000) + " kW",
  w: (w) => nf(0).format(w || 0) + " W",
  // kWh from integer milliwatt-hours, three decimals (Wh resolution), no float sums.
  kwh: (mwh) => {
    const wh = Math.trunc((mwh || 0) / 1000);
    const s = wh < 0 ? "-" : "";
    const a = Math.abs(wh);
    return s + Math.trunc(a / 1000).toLocaleString("en-GB") + "." + String(a % 1000).padStart(3, "0") + " kWh";
  },
  wh: (wh) => nf(0).format(wh) + " Wh",
  v: (v) => nf(1).format(v) + " V",
  a: (a) => nf(2).format(a) + " A",
  hz: (f) => nf(2).format(f) + " Hz",
  dur: (s) => {
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + r + " s";
  },
  time: (t) => (t ? new Date(t).toLocaleString("en-GB", { dateStyle: "short", timeStyle: "medium" }) : "–"),
};

// el builds an element: el("td", {class: "num"}, "text", child…).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function kv(dl, pairs) {
  dl.replaceChildren();
  for (const [k, v] of pairs) dl.append(el("dt", { text: k }), el("dd", { text: v }));
}

// ---- API ----------------------------------------------------------------------------------

async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: "same-origin", cache: "no-store" };
  if (method !== "GET") {
    if (state.csrf) opt.headers["X-CSRF-Token"] = state.csrf;
    if (body !== undefined) {
      opt.headers["Content-Type"] = typeof body === "string" ? "text/plain" : "application/json";
      opt.body = typeof body === "string" ? body : JSON.stringify(body);
    }
  }
  const r = await fetch(path, opt);
  const ct = r.headers.get("Content-Type") || "";
  const data = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) {
    const msg = (data && data.error) || (typeof data === "string" ? data.trim() : r.statusText);
    const err = new Error(msg);
    err.status = r.status;
    err.code = data && data.code;
    throw err;
  }
  return data;
}

function say(node, text, ok) {
  node.textContent = text;
  node.className = "result " + (ok === undefined ? "" : ok ? "good" : "bad");
}

// ---- alarms: cause and how to clear -------------------------------------------------------

const ALARMS = {
  meter_lost: ["The meter does not answer.", "Check the meter's supply and bus wiring (A/B, termination, unit ID); it clears by itself at the next good poll."],
  meter_replaced: ["A different meter (serial) answered.", "If the meter was replaced on purpose, confirm with Clear fault; otherwise find out who swapped it."],
  meter_counter_reset: ["The meter's energy register went backwards.", "Check the meter; confirm with Clear fault once understood."],
  meter_implausible: ["The meter reported values it cannot have measured.", "Check the meter model setting and wiring; clears by itself when values are plausible again."],
  emergency_stop: ["The emergency stop was pressed.", "Release the emergency stop, then Clear fault."],
  rcd_trip: ["The residual-current device tripped.", "Find the earth fault, reset the RCD, then Clear fault."],
  relay_fault: ["The contactor did not follow the coil (welded or failed to close).", "Switch off, inspect the contactor and its mirror contact, then Clear fault."],
  store: ["The chain's store refused writes (disk full or damaged).", "Free space or replace the storage; no session starts meanwhile."],
  chain_rolled_back: ["The chain is behind what was already published (a restored backup).", "Contact the operator; the chain declares the hole."],
};
const LATCHED = ["relay_fault", "emergency_stop", "rcd_trip", "meter_counter_reset", "meter_replaced"];

function alarmItems(alarms, onlyLatched) {
  const names = Object.keys(alarms || {}).filter((k) => !onlyLatched || LATCHED.includes(k)).sort();
  if (!names.length) return [el("li", { class: "ok", text: onlyLatched ? "none latched" : "none" })];
  return names.map((k) => {
    const [cause, clear] = ALARMS[k] || ["", "See the Events page for details."];
    return el("li", {}, el("strong", { text: k.replaceAll("_", " ") }), el("br"),
      el("span", { text: (cause ? cause + " " : "") + "Reported: " + alarms[k] }), el("br"),
      el("span", { class: "muted", text: "How to clear: " + clear }));
  });
}

// ---- Live -----------------------------------------------------------------------------------

function renderLive(s) {
  state.live = s;
  const m = s.meter || {};
  $("evse").textContent = (s.evse_id || s.device || "") + (s.version ? " · " + s.version : "");
  const p = $("l-power");
  p.textContent = fmt.kw(m.power_w);
  p.dataset.power = String(m.power_w || 0);
  $("l-energy").textContent = fmt.kwh(m.energy_import_mwh);
  $("l-freq").textContent = m.frequency_hz ? fmt.hz(m.frequency_hz) : "– Hz";
  $("l-relay").textContent = s.relay_closed ? "closed" : "open";
  const b = s.board;
  const fb = $("l-feedback");
  if (b && b.feedback_configured) {
    fb.textContent = b.feedback_closed ? "closed" : "open";
    fb.className = "big " + (b.feedback_closed === s.relay_closed ? "good" : "bad");
  } else fb.textContent = b ? "not wired" : "–";
  const mt = $("l-meter");
  mt.textContent = m.readable ? (m.model || "meter") + " ok" : "unreadable";
  mt.className = "big " + (m.readable ? "good" : "bad");
  const rows = [];
  const n = Math.max((m.voltage_v || []).length, (m.current_a || []).length, (m.phase_power_w || []).length);
  for (let i = 0; i < n; i++) {
    rows.push(el("tr", {}, el("th", { scope: "row", text: "L" + (i + 1) }),
      el("td", { text: m.voltage_v && m.voltage_v[i] !== undefined ? fmt.v(m.voltage_v[i]) : "– V" }),
      el("td", { text: m.current_a && m.current_a[i] !== undefined ? fmt.a(m.current_a[i]) : "– A" }),
      el("td", { text: m.phase_power_w && m.phase_power_w[i] !== undefined ? fmt.w(m.phase_power_w[i]) : "– W" })));
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "the meter reports no phase values" })));
  $("l-phases").tBodies[0].replaceChildren(...rows);
  const ss = s.session;
  if (ss) {
    const a = s.session_auth || {};
    const pairs = [["State", ss.state], ["Session", ss.id], ["Started", fmt.time(ss.started_at)],
      ["Duration", fmt.dur((Date.parse(s.time) - Date.parse(ss.started_at)) / 1000)], ["Energy", fmt.kwh(ss.energy_mwh)],
      ["Authorization", authText(a.authorization)],
      ["Energy limit", ss.max_energy_wh ? fmt.wh(ss.max_energy_wh) : "none"],
      ["Time limit", ss.max_duration_s ? fmt.dur(ss.max_duration_s) : "none"]];
    kv($("l-session"), pairs);
  } else {
    const last = s.last_session;
    kv($("l-session"), [["State", "no session"]].concat(last ? [["Last session", last.id + ", " + fmt.kwh(last.energy_mwh) + ", " + last.reason]] : []));
  }
  $("l-alarms").replaceChildren(...alarmItems(s.alarms));
  const chain = [["Entries", String(s.entries) + " (head seq)"]];
  if (s.anchor) chain.push(["Anchored through", "seq " + s.anchor.confirmed_through]);
  chain.push(["Backlog", Object.entries(s.backlog || {}).map(([k, v]) => k + " " + v + " entries").join(", ") || "0 entries"]);
  if (s.mqtt) chain.push(["Operator link", s.mqtt.online ? "online" : "offline"]);
  if (s.hal_fault) chain.push(["Board fault", s.hal_fault]);
  kv($("l-chain"), chain);
  renderControl(s);
}

// drawChart draws the hour as an SVG path with kW gridlines and minute labels, sized to the
// element so the labels keep their size on a phone; the live value extends it to now.
function drawChart() {
  const svg = $("l-chart");
  const pts = state.history.points.slice();
  const now = Date.now() / 1000;
  if (state.live && state.live.meter) pts.push([now, state.live.meter.power_w || 0]);
  const W = Math.max(280, Math.round(svg.getBoundingClientRect().width) || 600), H = 200, L = 48, B = 20, T = 8;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  const max = Math.max(1000, ...pts.map((p) => p[1])) * 1.1;
  const x = (t) => L + ((t - (now - 3600)) / 3600) * (W - L - 6);
  const y = (w) => T + (H - T - B) * (1 - w / max);
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text) e.textContent = text;
    return e;
  };
  const kids = [svg.querySelector("title")];
  for (let i = 0; i <= 4; i++) {
    const w = (max * i) / 4;
    kids.push(mk("line", { class: "grid", x1: L, x2: W, y1: y(w), y2: y(w) }));
    kids.push(mk("text", { class: "axis", x: 2, y: y(w) + 4 }, nf(1).format(w / 1000) + " kW"));
  }
  for (let m = 60; m >= 0; m -= 15) kids.push(mk("text", { class: "axis", x: x(now - m * 60) - (m ? 18 : 24), y: H - 4 }, m ? "-" + m + " min" : "now"));
  const d = pts.filter((p) => p[0] >= now - 3600).map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join("");
  if (d) kids.push(mk("path", { class: "line", d }));
  const last = pts[pts.length - 1];
  if (last) kids.push(mk("circle", { class: "dot", cx: x(last[0]), cy: y(last[1]), r: 3.5 }));
  svg.replaceChildren(...kids);
  $("l-chart-cap").textContent = "kW, mean per " + state.history.step_s + " s (" + state.history.points.length + " steps kept), then the live value; newest at the right";
}

function connect() {
  if (state.es) state.es.close();
  const es = new EventSource("/api/v1/events");
  state.es = es;
  const conn = $("conn");
  es.addEventListener("open", () => { conn.textContent = "live"; conn.className = "pill live"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; conn.className = "pill down"; });
  es.addEventListener("history", (e) => { state.history = JSON.parse(e.data); drawChart(); });
  es.addEventListener("point", (e) => {
    state.history.points.push(JSON.parse(e.data));
    if (state.history.points.length > 3600 / state.history.step_s) state.history.points.shift();
    drawChart();
  });
  es.addEventListener("status", (e) => {
    renderLive(JSON.parse(e.data));
    if (!$("page-live").hidden) drawChart();
  });
}

// ---- Control --------------------------------------------------------------------------------

function renderControl(s) {
  const ss = s.session;
  $("c-session").textContent = ss ? ss.id + " · " + (ss.state) + " · " + fmt.kwh(ss.energy_mwh) : "no session";
  $("c-stop").disabled = !ss;
  $("c-pause").disabled = !ss || ss.state === "paused";
  $("c-resume").disabled = !ss || ss.state !== "paused";
  const latched = Object.keys(s.alarms || {}).filter((k) => LATCHED.includes(k));
  $("c-faults").replaceChildren(...alarmItems(s.alarms, true));
  $("c-clear").disabled = !latched.length && !s.hal_fault;
}

async function command(name, body, label) {
  const out = $("c-result");
  say(out, label + "…");
  try {
    const r = await api("POST", "/api/v1/commands/" + name, body || {});
    const res = r.result || {};
    let text = label + ": done";
    if (res.session_id) text += " · session " + res.session_id;
    if (res.energy_mwh !== undefined) text += " · " + fmt.kwh(res.energy_mwh);
    if (res.cleared) text += " · cleared " + (res.cleared.join(", ") || "nothing");
    say(out, text, true);
  } catch (e) {
    say(out, label + " refused: " + (e.code ? e.code + ": " : "") + e.message, false);
  }
}

function setupControl() {
  $("c-start").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = {};
    const id = $("c-idtoken").value.trim(), tok = $("c-token").value.trim();
    if (id) body.id_token = id;
    if (tok) body.token = tok;
    command("start", body, "Start");
  });
  $("c-stop").addEventListener("click", () => command("stop", {}, "Stop"));
  $("c-pause").addEventListener("click", () => command("pause", {}, "Pause"));
  $("c-resume").addEventListener("click", () => command("resume", {}, "Resume"));
  $("c-clear").addEventListener("click", () => {
    const s = state.live || {};
    const items = Object.keys(s.alarms || {}).filter((k) => LATCHED.includes(k)).map((k) => el("li", { text: k.replaceAll("_", " ") + ": " + s.alarms[k] }));
    if (s.hal_fault) items.push(el("li", { text: "board: " + s.hal_fault }));
    $("c-confirm-list").replaceChildren(...items);
    $("c-confirm").showModal();
  });
  $("c-confirm").addEventListener("close", () => {
    if ($("c-confirm").returnValue === "ok") command("clear_fault", {}, "Clear fault");
  });
}

// ---- Sessions -------------------------------------------------------------------------------

async function loadSessions() {
  try {
    state.sessions = await api("GET", "/api/v1/sessions");
  } catch (e) {
    $("s-table").tBodies[0].replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "bad", text: e.message })));
    return;
  }
  const rows = state.sessions.map((s) => el("tr", { class: "link", tabindex: 0, "data-id": s.id,
    onclick: () => (location.hash = "#/sessions/" + s.id),
    onkeydown: (e) => { if (e.key === "Enter") location.hash = "#/sessions/" + s.id; } },
  el("td", { text: fmt.time(s.start) }), el("td", { text: s.end ? fmt.time(s.end) : "running" }),
  el("td", { class: "num", text: fmt.kwh(s.energy_mwh) }), el("td", { text: s.reason || "–" }),
  el("td", { text: authText(s.authorization) })));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no sessions yet" })));
  $("s-table").tBodies[0].replaceChildren(...rows);
}

function steps(ol, rep) {
  ol.replaceChildren(...(rep.steps || []).map((s) => el("li", {},
    el("span", { class: "verdict " + (s.verdict === "VALID" ? "good" : s.verdict === "INVALID" ? "bad" : "warn"), text: s.verdict }),
    " " + s.name + (s.detail ? ": " + s.detail : ""))),
  el("li", { class: "result-li verdict " + (rep.verdict === "VALID" ? "good" : rep.verdict === "INVALID" ? "bad" : "warn"), "data-verdict": rep.verdict, text: "Result: " + rep.verdict }));
}

async function showSession(id) {
  const box = $("s-detail");
  box.hidden = false;
  $("s-id").textContent = id;
  $("s-steps").replaceChildren();
  for (const tr of $("s-table").tBodies[0].rows) tr.classList.toggle("sel", tr.dataset.id === id);
  let d;
  try {
    d = await api("GET", "/api/v1/sessions/" + encodeURIComponent(id));
  } catch (e) {
    kv($("s-kv"), [["Error", e.message]]);
    return;
  }
  kv($("s-kv"), [["Start", fmt.time(d.start) + " (seq " + d.begin_seq + ")"], ["End", d.end ? fmt.time(d.end) + " (seq " + d.end_seq + ")" : "running"],
    ["Meter at start", fmt.kwh(d.begin_import_mwh)], ["Meter at end", d.end ? fmt.kwh(d.end_import_mwh) : "–"],
    ["Energy", fmt.kwh(d.energy_mwh)], ["Stop reason", d.reason || "–"], ["Authorization", authText(d.authorization)],
    ["Meter serial", d.meter_serial], ["EVSE ID", d.evse_id || "–"], ["OCMF signed by", d.ocmf_signer || "–"],
    ["OCMF public key", d.ocmf_public_key || "–"]]);
  const o = d.ocmf || "";
  $("s-ocmf").value = o || "no OCMF record kept for this session";
  for (const b of ["s-copy", "s-download", "s-xml"]) $(b).hidden = !o;
  $("s-qr").hidden = !o;
  if (o) {
    $("s-download").href = URL.createObjectURL(new Blob([o], { type: "text/plain" }));
    $("s-download").setAttribute("download", "session-" + d.id + ".ocmf.txt");
    $("s-xml").href = "/api/v1/sessions/" + encodeURIComponent(d.id) + "/ocmf.xml";
    $("s-qr").src = "/api/v1/qr?text=" + encodeURIComponent(o);
  }
  $("s-receipt").hidden = !d.receipt;
  $("s-receipt").href = "/api/v1/sessions/" + encodeURIComponent(d.id) + "/receipt";
  $("s-proof").hidden = !d.end_seq;
  $("s-proof").href = "/api/v1/proofs/" + d.end_seq;
  $("s-verify").dataset.id = d.id;
}

function setupSessions() {
  $("s-copy").addEventListener("click", async () => {
    const t = $("s-ocmf");
    try {
      await navigator.clipboard.writeText(t.value);
      $("s-copy").textContent = "Copied";
    } catch {
      t.select(); // no clipboard permission (plain http): selected for Ctrl+C
      $("s-copy").textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => ($("s-copy").textContent = "Copy"), 2500);
  });
  $("s-verify").addEventListener("click", async () => {
    const ol = $("s-steps");
    ol.replaceChildren(el("li", { text: "checking…" }));
    try {
      steps(ol, await api("POST", "/api/v1/sessions/" + encodeURIComponent($("s-verify").dataset.id) + "/verify"));
    } catch (e) {
      ol.replaceChildren(el("li", { class: "bad", text: e.message }));
    }
  });
  $("s-check").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ol = $("s-check-steps");
    ol.replaceChildren(el("li", { text: "checking…" }));
    try {
      steps(ol, await api("POST", "/api/v1/verify", $("s-record").value.trim()));
    } catch (err) {
      ol.replaceChildren(el("li", { class: "bad", text: err.message }));
    }
  });
}

// ---- Events ---------------------------------------------------------------------------------

async function loadEvents() {
  try {
    state.events = await api("GET", "/api/v1/chain/events");
  } catch (e) {
    $("e-count").textContent = e.message;
    return;
  }
  renderEvents();
}

function renderEvents() {
  const kind = $("e-kind").value, q = $("e-text").value.trim().toLowerCase();
  const shown = state.events.filter((e) => (!kind || e.kind.startsWith(kind)) &&
    (!q || (e.event + " " + e.detail + " " + e.kind + " " + (e.session_id || "")).toLowerCase().includes(q)));
  const rows = shown.slice(0, 500).map((e) => el("tr", {}, el("td", { class: "num", text: String(e.seq) }), el("td", { text: fmt.time(e.time) }),
    el("td", { text: e.kind }), el("td", { text: e.event || "–" }), el("td", { text: (e.detail || "") + (e.session_id ? " (session " + e.session_id + ")" : "") })));
  $("e-table").tBodies[0].replaceChildren(...rows);
  $("e-count").textContent = shown.length + " of " + state.events.length + " entries" + (shown.length > 500 ? " (first 500 shown)" : "");
}

// ---- Installer ------------------------------------------------------------------------------

async function loadInstaller() {
  let d;
  try {
    d = await api("GET", "/api/v1/installer");
  } catch (e) {
    kv($("i-kv"), [["Error", e.message]]);
    return;
  }
  kv($("i-kv"), [["Device ID", d.device], ["EVSE ID", d.evse_id || "–"], ["Version", d.version]]);
  const keys = [["Device ID", d.device], ["Entry key (Ed25519, hex)", d.entry_public_key], ["OCMF key (P-256, DER SPKI, hex)", d.ocmf_public_key]];
  if (d.meter_public_key) keys.push(["Meter key (DER SPKI, hex)", d.meter_public_key]);
  $("i-keys").replaceChildren(...keys.map(([k, v]) => el("div", {}, el("h3", { text: k }), el("code", { text: v }),
    el("img", { src: "/api/v1/qr?text=" + encodeURIComponent(v), alt: "QR code of the " + k, width: 160, height: 160 }))));
  const u = d.update || {};
  kv($("i-update"), d.update ? [["State", u.state || "–"], ["Version", u.version || "–"], ["Slot", u.slot || "–"],
    ["Target", u.target_version || "–"], ["Progress", (u.percent || 0) + " %"], ["Security floor", String(u.security_floor || 0)],
    ["Last error", u.error || u.last_error || "none"]] : [["State", "updates not enabled"]]);
  const hist = (d.update_history || []).map((e) => el("li", { text: "seq " + e.seq + " · " + fmt.time(e.time) + " · " + e.event + (e.detail ? ": " + e.detail : "") }));
  $("i-update-history").replaceChildren(...(hist.length ? hist : [el("li", { class: "muted", text: "no updates recorded" })]));
  $("i-config").textContent = d.config;
}

function setupInstaller() {
  $("i-hal").addEventListener("click", async () => {
    const out = $("i-hal-result"), tb = $("i-hal-table");
    say(out, "checking the wiring (the relay clicks)…");
    $("i-hal").disabled = true;
    try {
      const r = await api("POST", "/api/v1/installer/hal-check");
      tb.hidden = false;
      tb.tBodies[0].replaceChildren(...r.results.map((c) => el("tr", {},
        el("td", { class: c.pass ? "good" : "bad", text: c.pass ? "PASS" : "FAIL" }), el("td", { text: c.role }), el("td", { text: c.pin || "–" }), el("td", { text: c.detail }))));
      const t = (a) => (a && a.length ? Math.min(...a).toFixed(1) + "–" + Math.max(...a).toFixed(1) + " ms" : "n/a");
      say(out, (r.pass ? "PASS" : "FAIL") + " · contact timing: close " + t(r.close_ms) + ", open " + t(r.open_ms) + " (limit " + r.feedback_timeout_ms + " ms)", r.pass);
    } catch (e) {
      say(out, "not run: " + e.message, false);
    } finally {
      $("i-hal").disabled = false;
    }
  });
  $("i-meter").addEventListener("click", async () => {
    const out = $("i-meter-result");
    say(out, "detecting…");
    try {
      const m = await api("POST", "/api/v1/installer/meter-test");
      kv($("i-meter-kv"), [["Bus", m.url], ["Configured model", m.configured_model], ["Detected model", m.detected_model || "–"],
        ["Serial", m.serial || "–"], ["Firmware", m.firmware || "–"], ["Energy import", fmt.kwh(m.energy_import_mwh)],
        ["Power", fmt.w(m.power_w)], ["Voltage", (m.voltage_v || []).map(fmt.v).join(" / ") || "– V"],
        ["Current", (m.current_a || []).map(fmt.a).join(" / ") || "– A"], ["Frequency", m.frequency_hz ? fmt.hz(m.frequency_hz) : "– Hz"]]
        .concat(m.note ? [["Note", m.note]] : []));
      say(out, m.error ? "failed: " + m.error : "read ok (" + (m.status || "ok") + ")", !m.error);
    } catch (e) {
      say(out, "failed: " + e.message, false);
    }
  });
}

// ---- Access ---------------------------------------------------------------------------------

async function whoami() {
  const s = await api("GET", "/api/v1/session");
  state.role = s.role || "";
  state.csrf = s.csrf || "";
  const r = $("role");
  r.textContent = state.role ? state.role : "not logged in";
  for (const a of document.querySelectorAll("nav a[data-admin]")) a.hidden = state.role !== "admin";
  $("a-state").textContent = !s.token_required ? "No token is configured: everyone who reaches this address is an operator (the default listens on localhost only)."
    : state.role ? "Logged in as " + state.role + "." : "Log in with a token to see this charger.";
  $("a-logout").hidden = !s.token_required || !state.role;
  $("a-login").hidden = !s.token_required;
  $("a-viewer").hidden = !s.viewer_token;
  $("a-viewer-token").textContent = s.viewer_token || "";
  if (s.viewer_token) $("a-viewer-qr").src = "/api/v1/qr?text=" + encodeURIComponent(s.viewer_token);
  return state.role;
}

function setupAccess() {
  $("a-login").addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/api/v1/login", { token: $("a-token").value.trim() });
      $("a-token").value = "";
      await whoami();
      say($("a-result"), "logged in as " + state.role, true);
      start();
    } catch (err) {
      say($("a-result"), "login failed: " + err.message, false);
    }
  });
  $("a-logout").addEventListener("click", async () => {
    await api("POST", "/api/v1/logout");
    if (state.es) state.es.close();
    await whoami();
    location.hash = "#/access";
  });
}

// ---- routing --------------------------------------------------------------------------------

const LOADERS = { sessions: loadSessions, events: loadEvents, installer: loadInstaller };

async function route() {
  const [page, arg] = location.hash.replace(/^#\/?/, "").split("/");
  let name = page || "live";
  if (!document.getElementById("page-" + name)) name = "live";
  if (!state.role && name !== "access") name = "access";
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== "page-" + name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = $("page-" + name).dataset.title + " · chargegate";
  if (name === "live") drawChart();
  if (LOADERS[name]) await LOADERS[name]();
  if (name === "sessions" && arg) await showSession(decodeURIComponent(arg));
  else if (name === "sessions") $("s-detail").hidden = true;
  document.body.dataset.page = name; // tests wait for this: the page has rendered
}

function start() {
  if (!state.role) return;
  connect();
  route();
}

setupControl();
setupSessions();
setupInstaller();
setupAccess();
$("e-kind").addEventListener("change", renderEvents);
$("e-text").addEventListener("input", renderEvents);
$("e-filter").addEventListener("submit", (e) => e.preventDefault());
window.addEventListener("hashchange", route);
window.addEventListener("resize", () => { if (!$("page-live").hidden) drawChart(); });
whoami().then(() => (state.role ? start() : route())).catch((e) => {
  $("conn").textContent = "error: " + e.message;
  route();
});
