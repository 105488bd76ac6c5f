/** The menu (from STATE and SHOW_MENU), the home screen's showcase, and their cache. */
import { $, all, el } from "./dom.js";
import { order } from "./purchase.js";
import { state } from "./state.js";
import { rupiah, t } from "./text.js";

function cacheKey() {
  return "bayar.kiosk." + state.cfg.machineId + ".last";
}

/** The last menu and machine seen, so a kiosk that boots while bayar is down still looks right. */
function saveCache() {
  try {
    window.localStorage.setItem(
      cacheKey(),
      JSON.stringify({ menu: state.menu, machine: state.machine }),
    );
  } catch {
    /* private mode or full: no cache */
  }
}

export function loadCache() {
  try {
    const cached = JSON.parse(window.localStorage.getItem(cacheKey()) || "null");
    if (cached && Array.isArray(cached.menu)) {
      state.menu = cached.menu;
      renderShowcase();
    }
    if (cached?.machine) setMachine(cached.machine);
  } catch {
    /* a broken cache is no cache */
  }
}

export function updateMenu(items) {
  if (!Array.isArray(items)) return;
  state.menu = items.slice().sort(function (a, b) {
    return String(a.slot || "").localeCompare(String(b.slot || ""), undefined, { numeric: true });
  });
  renderMenu();
  renderShowcase();
  saveCache();
}

export function renderMenu() {
  const menu = state.menu;
  const grid = $("menu-grid");
  const empty = $("menu-empty");
  grid.textContent = "";
  const count = menu.length;
  const cols = count <= 3 ? Math.max(count, 1) : count === 4 ? 4 : count <= 6 ? 3 : 4;
  grid.style.setProperty("--cols", String(cols));
  grid.style.setProperty("--rows", String(Math.min(2, Math.ceil(count / cols)) || 1));
  grid.classList.toggle("scrolls", count > 8);
  empty.hidden = count > 0;
  empty.textContent = t(state.haveState ? "menu.empty" : "menu.loading");
  menu.forEach(function (item) {
    const card = el("button", "card");
    card.type = "button";
    card.setAttribute("role", "listitem");
    card.dataset.productId = item.id;
    if (item.slot) card.dataset.slot = item.slot;
    const soldOut = item.available === false;
    card.disabled = soldOut;
    card.classList.toggle("sold-out", soldOut);
    card.setAttribute("aria-disabled", String(soldOut));
    const pic = el("span", "card-pic");
    const img = el("img");
    img.alt = "";
    img.draggable = false;
    img.src = item.image_url || "";
    pic.appendChild(img);
    if (soldOut) pic.appendChild(el("span", "card-ribbon", t("menu.soldOut")));
    card.appendChild(pic);
    const info = el("span", "card-info");
    info.appendChild(el("span", "card-name", item.name));
    const row = el("span", "card-row");
    row.appendChild(el("span", "card-price", rupiah(item.price)));
    if (!soldOut && typeof item.stock === "number" && item.stock > 0 && item.stock <= 3) {
      row.appendChild(el("span", "card-left", t("menu.left", { n: item.stock })));
    }
    info.appendChild(row);
    card.appendChild(info);
    if (item.slot) card.appendChild(el("span", "card-slot", String(item.slot)));
    card.addEventListener("click", function () {
      order(item);
    });
    grid.appendChild(card);
  });
}

function renderShowcase() {
  const box = $("home-showcase");
  box.textContent = "";
  const shown = state.menu
    .filter(function (i) {
      return i.image_url && i.available !== false;
    })
    .slice(0, 5);
  shown.forEach(function (item, index) {
    const img = el("img");
    img.alt = "";
    img.draggable = false;
    img.src = item.image_url;
    img.style.setProperty("--i", String(index));
    img.style.setProperty("--n", String(shown.length));
    box.appendChild(img);
  });
}

export function findProduct(id) {
  for (const item of state.menu) if (item.id === id) return item;
  return null;
}

export function setMachine(m) {
  state.machine = m;
  $("machine-name").textContent = m.name || m.id || state.cfg.machineId;
  $("machine-location").textContent = m.location || "";
  all(".machine-name-copy").forEach(function (node) {
    node.textContent = m.name || m.id || "";
  });
}
