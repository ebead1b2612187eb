// The door staff's page. A scan goes to the server when it can
// (POST /api/door/scan, one atomic answer per ticket); when the network is
// down, the phone decides on its own (verify.js: signature, voided list,
// what it let in), queues the scan, and uploads it when the network is back
// (the scan id keeps a replay idempotent; a double entry shows up in the
// venue's conflict report).

import { decideOffline } from "./verify.js";

const $ = (id) => document.getElementById(id);
const main = $("door");
const strings = JSON.parse($("strings").textContent);
const lang = main.dataset.language || "en";
const STORE = "onsale.door";

function t(key, vars = {}) {
  const phrase = strings[key] ?? key;
  return phrase.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

function load() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}") || {};
  } catch {
    return {};
  }
}

let state = load(); // {key, gate, bundle, queue: [], seen: [], count}

function save(changes) {
  state = { ...state, ...changes };
  try {
    localStorage.setItem(STORE, JSON.stringify(state));
  } catch {
    // Full storage: the page keeps working for this visit.
  }
}

const seen = new Set(state.seen || []);

class NetworkError extends Error {}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      cache: "no-store",
      headers: {
        Accept: "application/json",
        Authorization: `Bearer ${state.key}`,
        ...(body ? { "Content-Type": "application/json" } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new NetworkError("network");
  }
  if (response.status >= 500) throw new NetworkError(String(response.status));
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error((data.error && data.error.message) || String(response.status));
    err.code = data.error && data.error.code;
    throw err;
  }
  return data;
}

function status() {
  const queued = (state.queue || []).length;
  const parts = [navigator.onLine === false || offlineNow ? t("status.offline") : t("status.online")];
  if (queued) parts.push(t("status.queued", { count: queued }));
  if (state.bundle) parts.push(t("status.ready", { count: (state.bundle.event_ids || []).length }));
  $("door-status").textContent = parts.join(" · ");
  $("door-count").textContent = t("count", { count: state.count || 0 });
}

let offlineNow = false;
let audio = null;

function beep(ok) {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = ok ? 880 : 220;
    gain.gain.value = 0.2;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + (ok ? 0.15 : 0.5));
  } catch {
    // No sound on this device: the colour says it.
  }
}

function timeOf(iso) {
  return new Intl.DateTimeFormat(lang, { timeStyle: "short" }).format(new Date(iso));
}

function showAnswer(answer, offline) {
  const ok = answer.result === "admitted";
  const box = $("door-answer");
  box.className = `answer ${ok ? "ok" : "bad"}`;
  $("door-result").textContent = answer.result;
  $("door-label").textContent = t(`result.${answer.result}`);
  const details = [];
  const ticket = answer.ticket;
  if (ticket && ticket.section) {
    details.push(
      ticket.seat
        ? t("detail.seat", { section: ticket.section, seat: ticket.seat })
        : t("detail.ga", { section: ticket.section }),
    );
  }
  if (ticket && ticket.number != null) details.push(t("detail.number", { number: ticket.number }));
  if (answer.result === "already_admitted" && answer.first_scanned_at) {
    details.push(t("detail.first", { time: timeOf(answer.first_scanned_at) }));
  }
  if (offline) details.push(t("detail.offline"));
  $("door-detail").textContent = details.join(" · ");
  if (ok) save({ count: (state.count || 0) + 1 });
  beep(ok);
  status();
}

async function check(code) {
  code = code.trim();
  if (!code) return;
  const scan = { code, scan_id: crypto.randomUUID(), gate: state.gate || "main" };
  try {
    const answer = await api("POST", "/api/door/scan", scan);
    offlineNow = false;
    if (answer.ticket) seen.add(answer.ticket.ticket_id);
    save({ seen: [...seen] });
    showAnswer(answer, false);
    flush();
  } catch (err) {
    if (!(err instanceof NetworkError)) {
      showError(err);
      return;
    }
    offlineNow = true;
    const answer = await decideOffline(state.bundle || {}, seen, code);
    const queued = {
      ...scan,
      offline: true,
      scanned_at: new Date().toISOString(),
      local_result: answer.result,
    };
    save({ queue: [...(state.queue || []), queued], seen: [...seen] });
    showAnswer({ ...answer, first_scanned_at: null }, true);
  }
}

function showError(err) {
  const box = $("door-answer");
  box.className = "answer bad";
  $("door-result").textContent = "error";
  $("door-label").textContent = err.code === "unauthorized" ? t("error.unauthorized") : t("result.error");
  $("door-detail").textContent = err.message || "";
  beep(false);
}

let flushing = false;

/** Send the scans made offline, oldest first; stop at the first network error. */
async function flush() {
  if (flushing || !(state.queue || []).length) return;
  flushing = true;
  try {
    while ((state.queue || []).length) {
      const [next, ...rest] = state.queue;
      try {
        await api("POST", "/api/door/scan", next);
      } catch (err) {
        if (err instanceof NetworkError) {
          offlineNow = true;
          break;
        }
        // Refused for good (a revoked key): dropping it would lose the entry; keep it.
        break;
      }
      offlineNow = false;
      save({ queue: rest });
    }
  } finally {
    flushing = false;
    status();
  }
}

async function refreshBundle() {
  try {
    const bundle = await api("GET", "/api/door/bundle");
    for (const id of bundle.admitted || []) seen.add(id);
    save({ bundle, seen: [...seen] });
    offlineNow = false;
  } catch (err) {
    if (err instanceof NetworkError) offlineNow = true;
    else throw err;
  } finally {
    status();
  }
}

// ------------------------------------------------------------------ camera

let stream = null;
let lastCode = "";
let lastAt = 0;

function detected(code) {
  const now = Date.now();
  if (code === lastCode && now - lastAt < 4000) return;
  lastCode = code;
  lastAt = now;
  check(code);
}

async function cameraLoop(video, detector) {
  const canvas = $("door-canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  while (stream) {
    if (video.readyState >= 2 && video.videoWidth) {
      try {
        if (detector) {
          const found = await detector.detect(video);
          if (found.length) detected(found[0].rawValue);
        } else if (window.jsQR) {
          canvas.width = video.videoWidth;
          canvas.height = video.videoHeight;
          ctx.drawImage(video, 0, 0);
          const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
          const found = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
          if (found && found.data) detected(found.data);
        }
      } catch {
        // A frame that could not be read: try the next one.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

async function camera() {
  const video = $("door-video");
  const button = $("door-camera");
  if (stream) {
    stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.hidden = true;
    button.textContent = t("camera.start");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false,
    });
  } catch {
    $("door-detail").textContent = t("camera.none");
    return;
  }
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  button.textContent = t("camera.stop");
  let detector = null;
  if ("BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch {
      detector = null;
    }
  }
  main.dataset.decoder = detector ? "barcodedetector" : "jsqr";
  cameraLoop(video, detector);
}

// ------------------------------------------------------------------- setup

function scanning() {
  $("door-key-form").hidden = true;
  $("door-scan").hidden = false;
  status();
  $("door-code").focus();
}

function asking() {
  $("door-key-form").hidden = false;
  $("door-scan").hidden = true;
  $("door-key").value = "";
  $("door-gate").value = state.gate || "main";
  $("door-key").focus();
}

$("door-key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const key = $("door-key").value.trim();
  if (!key) return;
  save({ key, gate: $("door-gate").value.trim() || "main" });
  try {
    await refreshBundle();
    scanning();
  } catch (err) {
    save({ key: undefined });
    showError(err);
    $("door-scan").hidden = false;
  }
});

$("door-code-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("door-code");
  const code = input.value;
  input.value = "";
  await check(code);
  input.focus();
});

$("door-camera").addEventListener("click", camera);
$("door-change-key").addEventListener("click", () => {
  save({ key: undefined, bundle: undefined });
  asking();
});
window.addEventListener("online", () => {
  offlineNow = false;
  flush();
  refreshBundle().catch(() => {});
});
window.addEventListener("offline", () => {
  offlineNow = true;
  status();
});
setInterval(() => {
  if (state.key) {
    flush();
    refreshBundle().catch(() => {});
  }
}, 30000);

if (state.key) {
  scanning();
  refreshBundle().catch(() => {});
  flush();
} else {
  asking();
}
main.setAttribute("aria-busy", "false");
