/** Small DOM helpers. */

export function $(id) {
  return document.getElementById(id);
}

export function all(selector) {
  return Array.prototype.slice.call(document.querySelectorAll(selector));
}

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
