// bayar's public API: the only way this shop talks to bayar. VITE_BAYAR_URL is set at build time.

export const BAYAR_URL: string = (
  import.meta.env.VITE_BAYAR_URL ?? "http://127.0.0.1:8000"
).replace(/\/+$/, "");

/** An address bayar gives (a product picture, a QR image), which may be relative to bayar. */
export function bayarAsset(url: string): string {
  return new URL(url, `${BAYAR_URL}/`).href;
}

export type Gateway = "midtrans" | "xendit";

export interface ClientConfig {
  gateway: Gateway;
  gateways: Gateway[];
  sandbox: boolean;
  production: boolean;
  client_key: string | null; // null: Midtrans is not configured (a Xendit-only bayar)
  snap_js_url: string | null;
}

export interface Product {
  id: string;
  name: string;
  price: number; // whole rupiah
  stock: number;
  image_url: string | null;
  description?: string | null;
  category?: string | null;
}

export interface Customer {
  first_name: string;
  email: string;
  phone: string;
}

export interface Payment {
  payment_type: string;
  status?: string | null;
  token?: string | null;
  redirect_url?: string | null;
  invoice_url?: string | null;
  qr_string?: string | null;
  qr_url?: string | null;
  va_number?: string | null;
  bank?: string | null;
  bill_key?: string | null;
  biller_code?: string | null;
  payment_code?: string | null;
  store?: string | null;
}

export interface Transaction {
  order_id: string;
  status: string;
  gross_amount: number;
  expiry_time: string;
  payment: Payment | null;
  invoice_url?: string | null; // Xendit: the hosted invoice page to send the customer to
}

export interface OrderItem {
  product_id: string;
  name: string;
  price: number;
  quantity: number;
}

export interface Order {
  order_id: string;
  status: string;
  gross_amount: number;
  currency: string;
  created_at: string;
  expiry_time: string;
  items: OrderItem[];
  payment: Payment | null;
  declined_attempt?: boolean;
}

/** An answer of bayar that is not a success: its HTTP status and its `detail` sentence. Status 0
 * means bayar could not be reached at all. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(detail || `HTTP ${status}`);
    this.name = "ApiError";
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  let answer: Response;
  try {
    answer = await fetch(`${BAYAR_URL}${path}`, { cache: "no-store", ...init });
  } catch {
    throw new ApiError(0, "");
  }
  let body: unknown = null;
  try {
    body = await answer.json();
  } catch {
    body = null;
  }
  if (!answer.ok) {
    const detail =
      body && typeof body === "object" && "detail" in body && typeof body.detail === "string"
        ? body.detail
        : "";
    throw new ApiError(answer.status, detail);
  }
  return { status: answer.status, body: body as T };
}

export async function getConfig(): Promise<ClientConfig> {
  return (await call<ClientConfig>("/api/config")).body;
}

export async function getProducts(): Promise<Product[]> {
  return (await call<Product[]>("/api/products")).body;
}

export async function getOrder(orderId: string): Promise<Order> {
  return (await call<Order>(`/api/orders/${encodeURIComponent(orderId)}`)).body;
}

export interface CartLine {
  product: Product;
  quantity: number;
}

/** Creates the order; the server prices the cart (no price is sent). A 202 means the gateway has
 * not answered yet: the same Idempotency-Key asks again, so one click is one order. */
export async function createTransaction(
  lines: CartLine[],
  customer: Customer,
  finishUrl: string,
  idempotencyKey: string,
  wait: (ms: number) => Promise<void> = (ms) => new Promise((done) => setTimeout(done, ms)),
): Promise<Transaction> {
  const body = JSON.stringify({
    items: lines.map((line) => ({ product_id: line.product.id, quantity: line.quantity })),
    customer,
    finish_url: finishUrl,
  });
  for (let attempt = 0; ; attempt++) {
    const answer = await call<Transaction>("/api/payments/create-transaction", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body,
    });
    if (answer.status !== 202 || attempt >= 5) return answer.body;
    await wait(1000 * (attempt + 1));
  }
}

/** Where the customer pays on the gateway's own page (Xendit's invoice), if anywhere. */
export function invoiceUrl(transaction: Transaction): string | null {
  return transaction.invoice_url ?? transaction.payment?.invoice_url ?? null;
}

// Statuses after which nothing changes for the customer: the order page stops asking.
export const SETTLED_STATUSES = new Set([
  "paid",
  "fulfilled",
  "failed",
  "expired",
  "cancelled",
  "refunded",
  "partially_refunded",
]);
