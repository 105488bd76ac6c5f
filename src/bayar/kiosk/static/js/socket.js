/** The kiosk's one WebSocket (PROTOCOL.md): connecting, backing off, pinging, out of service. */
import { $ } from "./dom.js";
import { handle } from "./events.js";
import { go, goNow, isOrderScreen } from "./screens.js";
import { kiosk, state } from "./state.js";
import { t } from "./text.js";

const RECONNECT_MIN = 1000;
// Closed for a cause only a person can remove (PROTOCOL.md): out of service until it goes.
const OUT_OF_SERVICE = { 4401: "oos.token", 4403: "oos.disabled", 4404: "oos.unknown" };
// The server is stopping (SIGTERM): 1012 "service restart" (what bayar's server sends its
// sockets then), or 4503. Another process behind the load balancer takes the kiosk: reconnect
// at once (within RESTART_SPREAD ms, so a fleet of kiosks does not arrive in one instant).
const RESTART_CODES = { 1012: 1, 4503: 1 };
const RESTART_SPREAD = 150;
const PING_EVERY = 15000;
const SILENCE_LIMIT = 40000; // no frame at all for this long: the socket is dead, reconnect
const BOOT_QUIET = 2500; // no offline banner for this long after the page loads

let ws = null;
let reconnectAttempt = 0;
let reconnectTimer = null;
let reconnectAt = 0;
let lastClose = null;
let lastFrameAt = 0;
let pingTimer = null;
let everConnected = false;
const bootAt = Date.now();
let downSince = bootAt; // when the connection was lost (0 while connected)

function socketUrl() {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return (
    scheme +
    "//" +
    window.location.host +
    state.cfg.wsPath +
    "?token=" +
    encodeURIComponent(state.cfg.token)
  );
}

export function connect() {
  if (reconnectTimer) {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
  }
  let sock;
  try {
    sock = new WebSocket(socketUrl());
  } catch {
    scheduleReconnect(null);
    return;
  }
  ws = sock;
  sock.onopen = function () {
    if (sock !== ws) return;
    downSince = 0;
    kiosk.connected = true;
    everConnected = true;
    lastClose = null;
    lastFrameAt = Date.now();
    updateBanner();
    startPing();
  };
  sock.onmessage = function (e) {
    if (sock !== ws) return;
    lastFrameAt = Date.now();
    handle(e.data);
  };
  sock.onclose = function (e) {
    if (sock !== ws) return;
    ws = null;
    kiosk.connected = false;
    stopPing();
    lastClose = e.code;
    if (!downSince) downSince = Date.now();
    if (OUT_OF_SERVICE[e.code]) outOfService(OUT_OF_SERVICE[e.code], e.code);
    scheduleReconnect(e.code);
  };
  sock.onerror = function () {
    /* a close event follows */
  };
}

/** A STATE came: the server is reachable again, the backoff starts over. */
export function backOnline() {
  reconnectAttempt = 0;
  updateBanner();
}

/** The full-screen "out of service" (no buy button); STATE (the cause gone) brings home back. */
function outOfService(reasonKey, code) {
  state.oosReason = { key: reasonKey, code: code };
  state.flow = null;
  goNow("out_of_service", fillOutOfService);
}

export function fillOutOfService() {
  if (!state.oosReason) return;
  $("oos-body").textContent = t(state.oosReason.key);
  $("oos-retry").textContent = t("oos.retry", { code: state.oosReason.code || "—" });
}

function scheduleReconnect(code) {
  if (RESTART_CODES[code]) {
    reconnectAttempt = 0; // a restart is no failure: the backoff starts over
    const soon = Math.random() * RESTART_SPREAD;
    reconnectAt = Date.now() + soon;
    reconnectTimer = setTimeout(connect, soon);
    updateBanner();
    return;
  }
  const most = state.cfg.retryMax;
  let base = Math.min(most, RECONNECT_MIN * 2 ** reconnectAttempt);
  if (OUT_OF_SERVICE[code]) base = most; // a person must act: retry slowly
  reconnectAttempt += 1;
  const delay = Math.min(most, base * (0.8 + Math.random() * 0.4)); // ±20% jitter
  reconnectAt = Date.now() + delay;
  reconnectTimer = setTimeout(connect, delay);
  updateBanner();
  // work offline: the home screen needs no server
  if (state.screen === "boot" && !state.haveState) go("home");
}

function startPing() {
  stopPing();
  pingTimer = setInterval(function () {
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - lastFrameAt > SILENCE_LIMIT) {
      try {
        ws.close(4000, "silent");
      } catch {
        /* ignore */
      }
      const dead = ws;
      ws = null;
      kiosk.connected = false;
      stopPing();
      dead.onclose = null;
      scheduleReconnect(null);
      return;
    }
    send("PING", {});
  }, PING_EVERY);
}

function stopPing() {
  if (pingTimer) {
    clearInterval(pingTimer);
    pingTimer = null;
  }
}

/** Send a frame; false when there is no open socket (it is still recorded in kiosk.sent). */
export function send(event, values) {
  const frame = { event: event, values: values || {} };
  kiosk.sent.push(frame);
  if (kiosk.sent.length > 500) kiosk.sent.splice(0, kiosk.sent.length - 500);
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  try {
    ws.send(JSON.stringify(frame));
    return true;
  } catch {
    return false;
  }
}

/** The offline banner, and out of service after cfg.offlineLimit without a connection. */
export function updateBanner() {
  const banner = $("offline");
  let down = !kiosk.connected;
  if (
    down &&
    downSince &&
    Date.now() - downSince > state.cfg.offlineLimit &&
    state.screen !== "out_of_service"
  ) {
    if (!isOrderScreen(state.screen)) outOfService("oos.offline", lastClose);
  }
  if (state.screen === "out_of_service") down = false; // the screen says it all, in plain words
  const show = down && (everConnected || reconnectAttempt > 0 || Date.now() - bootAt > BOOT_QUIET);
  banner.hidden = !show;
  document.body.classList.toggle("is-offline", show);
  if (!show) return;
  const secs = Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000));
  $("offline-text").textContent =
    reconnectTimer && secs > 0 ? t("offline.retry", { s: secs }) : t("offline.now");
}
