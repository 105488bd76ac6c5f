/** The shared message screen (refunding, refunded, manual-refund, failed, expired, cancelled, error). */
import { $ } from "./dom.js";
import { SCREENS } from "./screens.js";
import { state } from "./state.js";
import { rupiah, t } from "./text.js";

/**
 * kind: the screen; extra: {amount, orderId, reason, sub (a text), titleKey, subKey, vars, again
 * (the button goes back to the menu)}.
 */
export function showMessage(kind, extra) {
  state.message = Object.assign({ kind: kind }, extra || {});
  fillMessage(state.message);
}

export function fillMessage(spec) {
  const kind = spec.kind;
  const flow = state.flow;
  const amount =
    spec.amount !== undefined && spec.amount !== null
      ? rupiah(spec.amount)
      : flow?.item
        ? rupiah(flow.item.price)
        : "";
  const [titleKey, subKey, icon, tone] = SCREENS[kind].message;
  const title = spec.titleKey ? t(spec.titleKey) : t(titleKey);
  const sub = spec.subKey ? t(spec.subKey, spec.vars) : spec.sub || t(subKey, { amount: amount });
  $("message-title").textContent = title;
  $("message-body").textContent = sub;
  $("message-icon").setAttribute("href", "#i-" + icon);
  $("message-badge").className = "badge-circle pop badge-" + tone;
  const busy = kind === "refunding";
  $("message-spinner").hidden = !busy;
  $("message-badge").hidden = busy;
  $("message-home").hidden = busy;
  $("message-home").querySelector("span").textContent = t(
    spec.again ? "common.again" : "common.finish",
  );
  $("message-home").dataset.target = spec.again ? "menu" : "home";
  const orderId = spec.orderId || flow?.order?.order_id;
  const showRef =
    (kind === "manual-refund" || kind === "refunded" || kind === "refunding") && orderId;
  $("message-ref").textContent = showRef ? t("order.ref", { id: orderId }) : "";
}
