/** What the page does with each frame from the server (PROTOCOL.md, "Server → kiosk"). */
import { renderMenu, setMachine, updateMenu } from "./menu.js";
import { showMessage } from "./message.js";
import {
  adoptOrder,
  adoptOrderId,
  isCurrent,
  refreshCancelButton,
  sendOrder,
  setItem,
  showPayment,
} from "./purchase.js";
import { go, goHome, goNow, isOrderScreen, SCREENS } from "./screens.js";
import { backOnline, send } from "./socket.js";
import { kiosk, state } from "./state.js";

const KEEP_FRAMES = 500; // kiosk.events keeps the latest frames (tests and drills read them)
const RESYNC_EVERY = 20000; // the watchdog asks for STATE at most this often

/**
 * The screens STATE names (PROTOCOL.md; messages.screen_of on the server) and what the page does
 * with STATE's current order on each. "home": there is no current order.
 */
export const STATE_SCREENS = {
  home: null,
  payment: function (o) {
    const resend = isCurrent(o.order_id) && state.flow.cancelRequested;
    adoptOrder(o);
    if (resend) send("CANCEL", { order_id: o.order_id });
    go("payment", showPayment);
    if (state.screen === "payment") showPayment();
  },
  dispensing: function (o) {
    adoptOrder(o);
    go("dispensing");
  },
  refunding: function (o) {
    adoptOrder(o);
    go("refunding", function () {
      showMessage("refunding");
    });
  },
};

export function handle(frame) {
  let data;
  try {
    data = JSON.parse(frame);
  } catch {
    return;
  }
  if (!data || typeof data.event !== "string") return;
  const v = data.values && typeof data.values === "object" ? data.values : {};
  kiosk.lastEvent = data;
  kiosk.events.push(data);
  if (kiosk.events.length > KEEP_FRAMES) kiosk.events.splice(0, kiosk.events.length - KEEP_FRAMES);
  const fn = HANDLERS[data.event];
  if (!fn) return;
  try {
    fn(v);
  } catch (err) {
    if (window.console) console.error("bayar kiosk: " + data.event, err);
  }
}

export const HANDLERS = {
  STATE: function (v) {
    state.haveState = true;
    if (state.screen === "out_of_service") {
      state.oosReason = null; // the cause is gone
      goNow("home");
    }
    backOnline();
    const serverNow = Date.parse(v.server_time || "");
    if (!Number.isNaN(serverNow)) state.clockOffset = serverNow - Date.now();
    if (v.machine) setMachine(v.machine);
    if (v.menu) updateMenu(v.menu);
    else renderMenu();
    const o = v.order;
    const resume = o?.order_id ? STATE_SCREENS[v.screen] : null;
    if (resume) {
      resume(o);
    } else if (state.screen === "creating" && state.flow && !state.flow.order) {
      sendOrder(); // the ORDER (or its answer) was lost with the old socket: same request_id
    } else if (state.screen === "boot") {
      go("home");
    } else if (isOrderScreen(state.screen)) {
      if (dispensedHere())
        go("done"); // DISPENSED was lost with the socket
      else goHome(); // the order ended while we were away
    }
    flushResults();
  },
  SHOW_MENU: function (v) {
    updateMenu(v.items);
  },
  ORDER_CREATED: function (v) {
    const flow = state.flow;
    if (
      flow?.order &&
      flow.order.order_id !== v.order_id &&
      ["payment", "paid", "dispensing"].indexOf(state.screen) >= 0
    ) {
      return; // another order is on screen; this one will expire unpaid
    }
    adoptOrder(v);
    go("payment", showPayment);
  },
  PAYMENT_SUCCESS: function (v) {
    adoptOrderId(v);
    if (state.flow.order) state.flow.order.status = "paid";
    if (state.screen !== "dispensing") go("paid");
  },
  PAYMENT_FAILED: function (v) {
    if (!isCurrent(v.order_id)) return;
    go("failed", function () {
      showMessage("failed", { reason: v.reason });
    });
  },
  EXPIRED: function (v) {
    if (!isCurrent(v.order_id)) return;
    go("expired", function () {
      showMessage("expired");
    });
  },
  ORDER_CANCELLED: function (v) {
    if (!isCurrent(v.order_id)) return;
    go("cancelled", function () {
      showMessage("cancelled");
    });
  },
  DISPENSE: onDispense,
  DISPENSED: function (v) {
    adoptOrderId(v);
    go("done");
  },
  REFUNDED: function (v) {
    adoptOrderId(v);
    go("refunded", function () {
      showMessage("refunded", { amount: v.amount, orderId: v.order_id });
    });
  },
  MANUAL_REFUND: function (v) {
    adoptOrderId(v);
    go("manual-refund", function () {
      showMessage("manual-refund", { amount: v.amount, orderId: v.order_id });
    });
  },
  ERROR: function (v) {
    const flow = state.flow;
    if (state.screen === "creating" && flow && !flow.order) {
      const item = flow.item;
      state.flow = null;
      if (v.code === "sold_out") {
        send("SHOW_MENU", {});
        go("error", function () {
          showMessage("error", {
            titleKey: "soldOut.title",
            subKey: "soldOut.sub",
            vars: { item: item ? item.name : "" },
            again: true,
          });
        });
      } else {
        go("error", function () {
          showMessage("error", { subKey: v.code === "gateway" ? "error.gateway" : "error.sub" });
        });
      }
    } else if (flow?.cancelRequested) {
      flow.cancelRequested = false; // not allowed (paid meanwhile?): ask where we are
      refreshCancelButton();
      send("STATE", {});
    }
  },
  PONG: function () {},
};

// ------------------------------------------------------------------ dispensing

const unsentResults = {}; // dispense_id → DISPENSE_RESULT values, until a socket takes them

function onDispense(values) {
  adoptOrderId(values);
  state.flow.dispense = { dispense_id: values.dispense_id, status: "dispensing" };
  if (state.screen !== "dispensing") {
    go("dispensing", function () {
      setItem(state.flow?.item);
    });
  }
  const driver = kiosk.dispenser;
  Promise.resolve()
    .then(function () {
      return driver.dispense(values);
    })
    .catch(function (err) {
      return { ok: false, detail: "driver error: " + (err?.message ? err.message : String(err)) };
    })
    .then(function (result) {
      const answer = {
        order_id: values.order_id,
        dispense_id: values.dispense_id,
        ok: !!result?.ok,
        detail: result?.detail || "",
      };
      if (!send("DISPENSE_RESULT", answer)) unsentResults[answer.dispense_id] = answer;
      if (
        !answer.ok &&
        isCurrent(values.order_id) &&
        state.screen !== "refunded" &&
        state.screen !== "manual-refund"
      ) {
        go("refunding", function () {
          showMessage("refunding");
        });
      }
    });
}

function flushResults() {
  Object.keys(unsentResults).forEach(function (id) {
    if (send("DISPENSE_RESULT", unsentResults[id])) delete unsentResults[id];
  });
}

/** This page's dispenser dropped the current order's item (so "enjoy" is the truth). */
function dispensedHere() {
  const id = state.flow?.dispense?.dispense_id;
  if (!id) return false;
  const known = kiosk.dispenser?.memory ? kiosk.dispenser.memory()[id] : null;
  return !!(known?.done && known.ok);
}

/** Waiting on the server for long (a lost event?): ask it where we are, now and then. */
let lastResync = 0;
export function watchdog() {
  const waiting = SCREENS[state.screen]?.waiting;
  if (!kiosk.connected || !waiting) return;
  const now = Date.now();
  if (now - state.shownAt > waiting && now - lastResync > RESYNC_EVERY) {
    lastResync = now;
    send("STATE", {});
  }
}
