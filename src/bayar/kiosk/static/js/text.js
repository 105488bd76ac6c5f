/** The language on screen, its words (translations.js) and amounts in rupiah. */
import { TEXT } from "./translations.js";

let lang = "id";

export function normLang(value) {
  return value === "en" ? "en" : "id";
}

export function language() {
  return lang;
}

export function useLanguage(value) {
  lang = normLang(value);
}

export function t(key, vars) {
  let text = TEXT[lang]?.[key] || TEXT.id[key] || key;
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
