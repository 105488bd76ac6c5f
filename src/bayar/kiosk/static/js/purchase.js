/** One purchase: the order, its QR and countdown, cancelling it. */
import { $, all, el } from "./dom.js";
import { findProduct } from "./menu.js";
import { goNow } from "./screens.js";
import { send } from "./socket.js";
import { kiosk, state } from "./state.js";
import { rupiah, t } from "./text.js";

const EXPIRY_GRACE = 8000; // countdown at zero this long without EXPIRED: ask for STATE
const CANCEL_ANSWER = 5000; // no answer to CANCEL this long: ask for STATE

function uuid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") {
    return window.crypto.randomUUID(); // secure contexts only (https, localhost)
  }
  const b = new Uint8Array(16);
  window.crypto.getRandomValues(b); // available on plain http too
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.prototype.map
    .call(b, function (x) {
      return (x + 256).toString(16).slice(1);
    })
    .join("");
  return (
    h.slice(0, 8) +
    "-" +
    h.slice(8, 12) +
    "-" +
    h.slice(12, 16) +
    "-" +
    h.slice(16, 20) +
    "-" +
    h.slice(20)
  );
}

/** A tap on a menu card. */
export function order(item) {
  if (state.screen !== "menu" || item.available === false) return;
  state.flow = { requestId: uuid(), item: item, order: null, cancelRequested: false };
  goNow("creating", function () {
    setItem(item);
  });
  sendOrder();
}

/** ORDER for the purchase on screen; again after a reconnect with the same request_id. */
export function sendOrder() {
  const flow = state.flow;
  if (!flow || flow.order) return;
  send("ORDER", { id: flow.item.id, total: 1, request_id: flow.requestId });
}

export function setItem(item) {
  if (!item) return;
  all(".item-img").forEach(function (img) {
    if (item.image_url) {
      img.src = item.image_url;
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
  });
  all(".item-name").forEach(function (node) {
    node.textContent = item.name || "";
  });
  all(".item-price").forEach(function (node) {
    node.textContent = item.price !== undefined && item.price !== null ? rupiah(item.price) : "";
  });
}

function itemOf(values) {
  const item = values.item || {};
  const known = findProduct(item.id || values.product_id) || {};
  return {
    id: item.id || values.product_id || known.id,
    name: item.name || values.name || known.name || "",
    price:
      item.price !== undefined
        ? item.price
        : values.gross_amount !== undefined
          ? values.gross_amount
          : known.price,
    image_url: item.image_url || known.image_url || "",
  };
}

/** Make `values` (ORDER_CREATED or STATE.order) the order on screen. */
export function adoptOrder(values) {
  let flow = state.flow;
  const same = flow?.order && flow.order.order_id === values.order_id;
  if (!flow || (flow.order && !same)) {
    flow = state.flow = { requestId: null, item: null, order: null, cancelRequested: false };
  }
  if (!same) flow.cancelRequested = false;
  flow.order = Object.assign({}, flow.order || {}, values);
  kiosk.orderId = values.order_id;
  flow.item = itemOf(flow.order);
  if (flow.order.gross_amount !== undefined) flow.item.price = flow.order.gross_amount;
  setItem(flow.item);
}

/** A DISPENSE or result event about an order we may not know yet (e.g. paid while offline). */
export function adoptOrderId(values) {
  if (isCurrent(values.order_id)) return;
  const item = itemOf(values);
  state.flow = {
    requestId: null,
    item: item,
    order: { order_id: values.order_id },
    cancelRequested: false,
  };
  kiosk.orderId = values.order_id;
  setItem(item);
}

export function isCurrent(orderId) {
  return !!(state.flow?.order && state.flow.order.order_id === orderId);
}

export function showPayment() {
  const flow = state.flow;
  const o = flow.order;
  renderQr(o.qr_svg, o.qr_string);
  const now = Date.now();
  const serverExpiry = Date.parse(o.expiry_time || "");
  if (!Number.isNaN(serverExpiry) && state.clockOffset !== null) {
    flow.expiresAt = serverExpiry - state.clockOffset; // local clock
  } else if (typeof o.seconds_left === "number") {
    flow.expiresAt = now + o.seconds_left * 1000;
  } else if (!Number.isNaN(serverExpiry)) {
    flow.expiresAt = serverExpiry;
  } else {
    flow.expiresAt = now + 15 * 60 * 1000;
  }
  const span =
    typeof o.seconds_left === "number" && o.seconds_left > 0
      ? o.seconds_left * 1000
      : flow.expiresAt - now;
  if (!flow.expirySpan || flow.expirySpan < span) flow.expirySpan = Math.max(span, 1000);
  refreshCancelButton();
}

function renderQr(svgText, qrString) {
  const box = $("qr-box");
  box.textContent = "";
  box.dataset.qrString = qrString || "";
  let svg = null;
  if (svgText) {
    // The HTML parser takes both a full document (<?xml …?> and xmlns) and segno's inline
    // form (no xmlns), and puts <svg> in the SVG namespace. Template content is inert.
    const tpl = document.createElement("template");
    tpl.innerHTML = String(svgText);
    const found = tpl.content.querySelector("svg");
    if (found) svg = document.importNode(found, true);
  }
  if (!svg) {
    box.appendChild(el("span", "qr-missing", t("payment.qrMissing")));
    return;
  }
  svg.querySelectorAll("script, foreignObject").forEach(function (n) {
    n.remove();
  });
  if (!svg.getAttribute("viewBox")) {
    const w = parseFloat(svg.getAttribute("width"));
    const h = parseFloat(svg.getAttribute("height"));
    if (w > 0 && h > 0) svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  }
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("qr-svg");
  box.appendChild(svg);
}

export function refreshCancelButton() {
  const btn = $("payment-cancel");
  const pending = !!state.flow?.cancelRequested;
  btn.disabled = pending;
  btn.querySelector("span").textContent = t(pending ? "payment.cancelling" : "payment.cancel");
}

export function cancel() {
  const flow = state.flow;
  if (state.screen !== "payment" || !flow || !flow.order || flow.cancelRequested) return;
  flow.cancelRequested = true;
  refreshCancelButton();
  const orderId = flow.order.order_id;
  send("CANCEL", { order_id: orderId });
  // The answer is ORDER_CANCELLED, or PAYMENT_SUCCESS when the payment won the race. If neither
  // came (a frame lost with a socket), ask where the order stands; STATE sends CANCEL again.
  setTimeout(function () {
    if (state.screen === "payment" && state.flow?.cancelRequested && isCurrent(orderId)) {
      send("STATE", {});
    }
  }, CANCEL_ANSWER);
}

// ------------------------------------------------------------------ countdown

let countdownTimer = null;

export function startCountdown() {
  paintCountdown();
  countdownTimer = setInterval(paintCountdown, 250);
}

export function stopCountdown() {
  if (countdownTimer) {
    clearInterval(countdownTimer);
    countdownTimer = null;
  }
}

function paintCountdown() {
  const flow = state.flow;
  if (!flow?.expiresAt) return;
  const left = flow.expiresAt - Date.now();
  const secs = Math.max(0, Math.ceil(left / 1000));
  const box = $("countdown");
  $("countdown-time").textContent =
    Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
  const ratio = Math.max(0, Math.min(1, left / (flow.expirySpan || 1)));
  $("countdown-fill").style.transform = "scaleX(" + ratio.toFixed(4) + ")";
  box.classList.toggle("warn", secs <= 60);
  box.classList.toggle("over", secs === 0);
  box.querySelector(".countdown-label").textContent = t(
    secs === 0 ? "payment.waiting" : "payment.expiresIn",
  );
  if (left < -EXPIRY_GRACE && (!flow.resyncAt || Date.now() - flow.resyncAt > EXPIRY_GRACE)) {
    flow.resyncAt = Date.now();
    send("STATE", {}); // the EXPIRED event went missing? ask the server where we are
  }
}
