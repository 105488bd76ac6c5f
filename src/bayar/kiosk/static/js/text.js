/** The language on screen, its words (translations.js, from the catalogs) and amounts in rupiah. */
import { MESSAGES } from "./translations.js";

let lang = "id";
let words = null;

export function normLang(value) {
  return value === "en" ? "en" : "id";
}

export function language() {
  return lang;
}

export function useLanguage(value) {
  lang = normLang(value);
}

/** The page's words in both languages (msgid → text), embedded by bayar from its catalogs. */
function catalog() {
  if (words === null) {
    const data = typeof document === "undefined" ? null : document.getElementById("kiosk-words");
    words = data ? JSON.parse(data.textContent) : {};
  }
  return words;
}

export function t(key, vars) {
  const message = MESSAGES[key];
  let text = message ? catalog()[lang]?.[message] || message : key;
  if (vars) {
    text = text.replace(/\{(\w+)\}/g, function (m, name) {
      return vars[name] !== undefined ? String(vars[name]) : m;
    });
  }
  return text;
}

/** Integer rupiah → "Rp 7.000". */
export function rupiah(amount) {
  const n = Math.round(Number(amount) || 0);
  const digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  return (n < 0 ? "-" : "") + "Rp " + digits;
}
