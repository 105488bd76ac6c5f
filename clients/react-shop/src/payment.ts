// handlePayment: the course's flow. bayar creates the order (it prices the cart), then the customer
// pays on the gateway's page: Midtrans' Snap popup, or Xendit's hosted invoice (a redirect).
// The callbacks only say where to go next: the order page asks bayar for the status, which the
// gateway's signed webhook keeps right.
import {
  type CartLine,
  type ClientConfig,
  type Customer,
  createTransaction,
  invoiceUrl,
} from "./api";
import type { Language } from "./i18n";
import { navigate } from "./router";
import { loadSnap } from "./snap";

export type SnapOutcome = "success" | "pending" | "error" | "close";

const LAST_ORDER = "bayar-shop.last-order";

export function orderPath(orderId: string, outcome?: SnapOutcome): string {
  const path = `/orders/${encodeURIComponent(orderId)}`;
  return outcome ? `${path}?via=${outcome}` : path;
}

/** The order a customer left for the gateway's page with (Xendit's return address may not say). */
export function lastOrder(): string | null {
  return window.sessionStorage.getItem(LAST_ORDER);
}

function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Opens Snap's popup for `token`; whatever happens there, the order's page comes next. */
export async function openSnap(
  config: ClientConfig,
  orderId: string,
  token: string,
  language: Language,
): Promise<void> {
  const snap = await loadSnap(config);
  const go = (outcome: SnapOutcome) => () => navigate(orderPath(orderId, outcome));
  snap.pay(token, {
    onSuccess: go("success"),
    onPending: go("pending"),
    onError: go("error"),
    onClose: go("close"),
    language,
  });
}

/** Creates the order for the cart, then sends the customer to pay. Throws ApiError (the order
 * was not made: nothing to pay) or an Error if the payment window could not be opened. */
export async function handlePayment(
  config: ClientConfig,
  lines: CartLine[],
  customer: Customer,
  language: Language,
  onCreated: (orderId: string) => void,
): Promise<void> {
  const finishUrl = `${window.location.origin}/finish`;
  const transaction = await createTransaction(lines, customer, finishUrl, newKey());
  const orderId = transaction.order_id;
  window.sessionStorage.setItem(LAST_ORDER, orderId);
  onCreated(orderId);
  const invoice = invoiceUrl(transaction);
  if (invoice) {
    window.location.href = invoice; // Xendit: its invoice page sends the customer back to /finish
    return;
  }
  const token = transaction.payment?.token;
  if (!token) {
    navigate(orderPath(orderId)); // the gateway has not answered yet: the order page follows it
    return;
  }
  try {
    await openSnap(config, orderId, token, language);
  } catch {
    navigate(orderPath(orderId)); // the order is made: its page offers to pay again
  }
}
