// Midtrans' front-end script, from where bayar says (its own sandbox in sandbox mode).
import type { ClientConfig } from "./api";

export interface SnapResult {
  order_id?: string;
  status_code?: string;
  transaction_status?: string;
  [field: string]: unknown;
}

export interface SnapCallbacks {
  onSuccess: (result: SnapResult) => void;
  onPending: (result: SnapResult) => void;
  onError: (result: SnapResult) => void;
  onClose: () => void;
  language?: string;
}

export interface Snap {
  pay: (token: string, options: SnapCallbacks) => void;
  hide?: () => void;
}

declare global {
  interface Window {
    snap?: Snap;
  }
}

let loading: Promise<Snap> | null = null;

export function loadSnap(config: ClientConfig): Promise<Snap> {
  if (window.snap) return Promise.resolve(window.snap);
  const { snap_js_url: src, client_key: clientKey } = config;
  if (!src || !clientKey) return Promise.reject(new Error("Midtrans is not configured"));
  loading ??= new Promise<Snap>((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.dataset.clientKey = clientKey;
    script.onload = () => (window.snap ? resolve(window.snap) : reject(new Error("no snap")));
    script.onerror = () => {
      loading = null;
      script.remove();
      reject(new Error("snap.js did not load"));
    };
    document.head.append(script);
  });
  return loading;
}
