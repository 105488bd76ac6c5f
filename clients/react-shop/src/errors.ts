// bayar's errors in plain words: a sentence for the customer, and bayar's own `detail` beside it.
import { ApiError } from "./api";
import type { MessageKey, Translate } from "./i18n";

const BY_STATUS: Record<number, MessageKey> = {
  0: "error.network",
  404: "error.notFound",
  409: "error.stock",
  422: "error.invalid",
  429: "error.tooMany",
  502: "error.gateway",
  503: "error.unavailable",
  504: "error.unavailable",
};

export interface Problem {
  message: string;
  detail: string | null;
}

export function explain(error: unknown, t: Translate): Problem {
  if (error instanceof ApiError) {
    const key = BY_STATUS[error.status] ?? "error.other";
    return {
      message: t(key),
      detail: error.detail ? t("error.detail", { detail: error.detail }) : null,
    };
  }
  return { message: t("error.other"), detail: null };
}
