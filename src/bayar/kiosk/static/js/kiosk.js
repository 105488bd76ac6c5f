/**
 * bayar kiosk page (the entry module): speaks the kiosk WebSocket protocol
 * (src/bayar/kiosk/PROTOCOL.md). Plain ES modules, no dependencies, no build step.
 *
 *   config.js       settings from the page and its URL (?idle, ?dispenser, ?retry, ?offline)
 *   screens.js      the screens (SCREENS) and the moves between them
 *   events.js       what each server frame does (HANDLERS, STATE_SCREENS)
 *   socket.js       the WebSocket: reconnecting, pinging, out of service
 *   purchase.js     one purchase: order, QR, countdown, cancel
 *   menu.js         the menu and the home showcase
 *   message.js      the shared message screen
 *   dispenser.js    the simulated dispenser (no UI)
 *   language.js, text.js, translations.js   the words on screen, in id and en
 *
 * For tests and drills: window.bayarKiosk (state.js) and <body data-screen="…">.
 */
import { readConfig } from "./config.js";
import { SimulatedDispenser } from "./dispenser.js";
import { $, all } from "./dom.js";
import { watchdog } from "./events.js";
import { applyText, setLang } from "./language.js";
import { loadCache, renderMenu } from "./menu.js";
import { cancel } from "./purchase.js";
import { go, goHome, goNow, render, touchIdle } from "./screens.js";
import { connect, send, updateBanner } from "./socket.js";
import { kiosk, state } from "./state.js";
import { useLanguage } from "./text.js";

const BOOT_WAIT = 2500; // no STATE this soon (server not up yet): show home anyway

function start() {
  const cfg = readConfig(document.body, window.location.search);
  state.cfg = cfg;
  kiosk.config = cfg;
  kiosk.dispenser = new SimulatedDispenser({ machineId: cfg.machineId, mode: cfg.dispenser });
  kiosk.SimulatedDispenser = SimulatedDispenser;
  window.bayarKiosk = kiosk;
  useLanguage(cfg.lang);
  wire();
  setInterval(updateBanner, 500);
  setInterval(watchdog, 1000);
  setTimeout(function () {
    if (state.screen === "boot") go("home"); // it works without the server
  }, BOOT_WAIT);
  loadCache();
  renderMenu();
  render("boot");
  connect();
}

function openMenu() {
  goNow("menu");
  send("SHOW_MENU", {});
}

function wire() {
  applyText();
  all(".lang-btn").forEach(function (btn) {
    btn.addEventListener("click", function (e) {
      e.stopPropagation();
      setLang(btn.dataset.lang);
    });
  });
  $("screen-home").addEventListener("click", function (e) {
    if (e.target.closest(".lang-toggle")) return;
    if (state.screen !== "home") return;
    openMenu();
  });
  $("menu-back").addEventListener("click", function () {
    goHome();
  });
  $("payment-cancel").addEventListener("click", cancel);
  all(".js-home").forEach(function (btn) {
    btn.addEventListener("click", function () {
      if (btn.dataset.target === "menu") openMenu();
      else goHome();
    });
  });
  ["pointerdown", "keydown", "wheel", "touchmove"].forEach(function (type) {
    document.addEventListener(type, touchIdle, { passive: true });
  });
  $("menu-grid").addEventListener("scroll", touchIdle, { passive: true });
  document.addEventListener("contextmenu", function (e) {
    e.preventDefault();
  });
}

start();
