/**
 * The page's screens and the moves between them:
 * home → menu → creating → payment (QR) → paid → dispensing → done → home.
 */
import { $, all } from "./dom.js";
import { setLang } from "./language.js";
import { showMessage } from "./message.js";
import { startCountdown, stopCountdown } from "./purchase.js";
import { kiosk, state } from "./state.js";
import { language, t } from "./text.js";

const CREATING_LIMIT = 25000; // no ORDER_CREATED after this long: give up on the order screen

/**
 * Every screen of the page, shown by <section id="screen-NAME"> or, with `message`, by the
 * shared #screen-message as [title, text, icon, tone].
 *   dwell    the least time (ms) it stays up before a queued screen replaces it
 *   waiting  waiting this long (ms) on the server: ask it for STATE (watchdog in events.js)
 *   final    the end of a purchase: home after this many times the final idle timeout
 *   order    an order is on it
 * STATE names home, payment, dispensing and refunding (PROTOCOL.md); events.js's
 * STATE_SCREENS says what the page does with each.
 */
export const SCREENS = {
  boot: {},
  home: {},
  menu: {},
  creating: { dwell: 600, waiting: 15000, order: true },
  payment: { order: true },
  paid: { dwell: 1400, waiting: 20000, order: true },
  dispensing: { dwell: 1500, waiting: 45000, order: true },
  done: { final: 1 },
  refunding: {
    dwell: 1200,
    waiting: 45000,
    order: true,
    message: ["refunding.title", "refunding.sub", "alert", "warn"],
  },
  refunded: { final: 1, message: ["refunded.title", "refunded.sub", "return", "info"] },
  "manual-refund": { final: 3, message: ["manual.title", "manual.sub", "person", "warn"] },
  failed: { final: 1, message: ["failed.title", "failed.sub", "x", "bad"] },
  expired: { final: 1, message: ["expired.title", "expired.sub", "clock", "muted"] },
  cancelled: { final: 1, message: ["cancelled.title", "cancelled.sub", "x", "muted"] },
  error: { final: 1, message: ["error.title", "error.sub", "alert", "bad"] },
  out_of_service: {},
};

export function isOrderScreen(name) {
  return !!SCREENS[name]?.order;
}

let queue = [];
let queueTimer = null;
let creatingTimer = null;

function elementFor(name) {
  return SCREENS[name]?.message ? $("screen-message") : $("screen-" + name);
}

/** Show a screen after the current one has had its minimum time (events may arrive in bursts). */
export function go(name, prepare) {
  const last = queue.length ? queue[queue.length - 1].name : state.screen;
  if (last === name) return; // e.g. ORDER_CANCELLED both as the answer and from the bus
  queue.push({ name: name, prepare: prepare });
  pump();
}

/** Show a screen now (a customer's own action), dropping anything queued. */
export function goNow(name, prepare) {
  queue = [];
  if (queueTimer) {
    clearTimeout(queueTimer);
    queueTimer = null;
  }
  render(name, prepare);
}

function pump() {
  if (queueTimer) return;
  while (queue.length) {
    const wait = (SCREENS[state.screen]?.dwell || 0) - (Date.now() - state.shownAt);
    if (wait > 0) {
      queueTimer = setTimeout(function () {
        queueTimer = null;
        pump();
      }, wait);
      return;
    }
    const next = queue.shift();
    render(next.name, next.prepare);
  }
}

export function render(name, prepare) {
  if (prepare) prepare();
  const target = elementFor(name);
  all(".screen.active").forEach(function (node) {
    if (node !== target) node.classList.remove("active");
  });
  if (!target.classList.contains("active") || name !== state.screen) {
    // (re)play the entrance; also for message → message on the same element
    target.classList.remove("enter");
    void target.offsetWidth;
    target.classList.add("active", "enter");
  }
  state.screen = name;
  state.shownAt = Date.now();
  kiosk.state = name;
  document.body.dataset.screen = name;
  onEnter(name);
}

function onEnter(name) {
  stopIdle();
  stopCountdown();
  if (creatingTimer && name !== "creating") {
    clearTimeout(creatingTimer);
    creatingTimer = null;
  }
  const final = SCREENS[name]?.final;
  if (name === "menu") {
    startIdle(state.cfg.idleMenu);
  } else if (final) {
    startIdle(state.cfg.idleFinal * final);
  } else if (name === "payment") {
    startCountdown();
  } else if (name === "creating") {
    if (creatingTimer) clearTimeout(creatingTimer);
    creatingTimer = setTimeout(function () {
      creatingTimer = null;
      if (state.screen === "creating") {
        state.flow = null;
        go("error", function () {
          showMessage("error", { sub: t("error.timeout") });
        });
      }
    }, CREATING_LIMIT);
  } else if (name === "home") {
    state.flow = null;
    kiosk.orderId = null;
    state.message = null;
  }
}

export function goHome() {
  // the next customer starts in the kiosk's language
  if (language() !== state.cfg.lang) setLang(state.cfg.lang);
  goNow("home");
}

// ------------------------------------------------------------------ idle timeout

let idleTimer = null;
let idleDeadline = 0;
let idleTotal = 0;

function startIdle(seconds) {
  idleTotal = seconds * 1000;
  idleDeadline = Date.now() + idleTotal;
  paintIdle();
  idleTimer = setInterval(function () {
    paintIdle();
    if (Date.now() >= idleDeadline) goHome();
  }, 200);
}

function stopIdle() {
  if (idleTimer) {
    clearInterval(idleTimer);
    idleTimer = null;
  }
}

/** A touch on the menu starts its idle time over. */
export function touchIdle() {
  if (idleTimer && state.screen === "menu") {
    idleDeadline = Date.now() + idleTotal;
    paintIdle();
  }
}

function paintIdle() {
  const left = Math.max(0, idleDeadline - Date.now());
  const ratio = idleTotal ? left / idleTotal : 0;
  const fill = elementFor(state.screen)?.querySelector(".idle-fill");
  if (fill) fill.style.transform = "scaleX(" + ratio.toFixed(4) + ")";
}
