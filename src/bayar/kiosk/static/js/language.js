/** Switching the page's language: every text on it is drawn again. */
import { all } from "./dom.js";
import { renderMenu } from "./menu.js";
import { fillMessage } from "./message.js";
import { refreshCancelButton } from "./purchase.js";
import { fillOutOfService, updateBanner } from "./socket.js";
import { state } from "./state.js";
import { language, t, useLanguage } from "./text.js";

/** The texts written in the page (data-i18n, data-i18n-aria) and the language buttons. */
export function applyText() {
  const lang = language();
  document.documentElement.lang = lang;
  all("[data-i18n]").forEach(function (node) {
    node.textContent = t(node.dataset.i18n);
  });
  all("[data-i18n-aria]").forEach(function (node) {
    node.setAttribute("aria-label", t(node.dataset.i18nAria));
  });
  all(".lang-btn").forEach(function (btn) {
    btn.setAttribute("aria-pressed", String(btn.dataset.lang === lang));
  });
}

export function setLang(value) {
  useLanguage(value);
  applyText();
  renderMenu();
  if (state.message) fillMessage(state.message);
  if (state.screen === "out_of_service") fillOutOfService();
  if (state.screen === "payment") refreshCancelButton();
  updateBanner();
}
