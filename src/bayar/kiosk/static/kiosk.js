/*
 * bayar kiosk page: home → menu → creating → payment (QR) → paid → dispensing → done → home.
 *
 * Speaks the kiosk WebSocket protocol (src/bayar/kiosk/PROTOCOL.md). Vanilla JS, no dependencies.
 *
 * URL options (besides ?token= and ?lang= which the server reads):
 *   ?idle=30,10     idle timeouts in seconds: on the menu, then on the final screens
 *                   (one number sets both). Default 30,10.
 *   ?dispenser=fail   the simulated dispenser always fails (drills the refund path)
 *   ?dispenser=silent the simulated dispenser never answers (drills the server's ack timeout)
 *   ?retry=15       the longest wait between two connection attempts, in seconds (default 15)
 *   ?offline=60     no connection for this many seconds: the out-of-service screen (default 60)
 *
 * For tests and drills: window.bayarKiosk = {state, dispenser, lastEvent, events, sent, connected}
 * and <body data-screen="…">. `bayarKiosk.dispenser.failNext = true` fails the next dispense only.
 */
(function () {
  "use strict";

  var body = document.body;
  var params = new URLSearchParams(window.location.search);
  var cfg = {
    machineId: body.dataset.machineId || "",
    token: body.dataset.token || params.get("token") || "",
    wsPath: body.dataset.wsPath || "/ws/kiosk/" + (body.dataset.machineId || ""),
    lang: normLang(body.dataset.lang || params.get("lang")),
    idleMenu: 30,
    idleFinal: 10,
  };
  (function parseIdle() {
    var raw = params.get("idle");
    if (!raw) return;
    var parts = raw.split(",").map(function (p) { return parseFloat(p); });
    if (parts[0] > 0) { cfg.idleMenu = parts[0]; cfg.idleFinal = parts[0]; }
    if (parts.length > 1 && parts[1] > 0) cfg.idleFinal = parts[1];
  })();

  var RECONNECT_MIN = 1000;
  var RECONNECT_MAX = (parseFloat(params.get("retry")) || 15) * 1000;
  var OFFLINE_LIMIT = (parseFloat(params.get("offline")) || 60) * 1000;
  // Closed for a cause only a person can remove (PROTOCOL.md): out of service until it goes.
  var OUT_OF_SERVICE = { 4401: "oos.token", 4403: "oos.disabled", 4404: "oos.unknown" };
  // The server is stopping (SIGTERM): 1012 "service restart" (what bayar's server sends its
  // sockets then), or 4503. Another process behind the load balancer takes the kiosk: reconnect
  // at once (within RESTART_SPREAD ms, so a fleet of kiosks does not arrive in one instant).
  var RESTART_CODES = { 1012: 1, 4503: 1 };
  var RESTART_SPREAD = 150;
  var PING_EVERY = 15000;
  var SILENCE_LIMIT = 40000; // no frame at all for this long: the socket is dead, reconnect
  var CREATING_LIMIT = 25000; // no ORDER_CREATED after this long: give up on the order screen
  var EXPIRY_GRACE = 8000; // countdown at zero this long without EXPIRED: ask for STATE
  var DWELL = { creating: 600, paid: 1400, dispensing: 1500, refunding: 1200 }; // minimum time on screen (ms)
  var FINAL = { done: 1, refunded: 1, "manual-refund": 3, failed: 1, expired: 1, cancelled: 1, error: 1 };
  var WAITING = { creating: 15000, paid: 20000, dispensing: 45000, refunding: 45000 }; // then resync
  var MESSAGE_SCREENS = ["refunding", "refunded", "manual-refund", "failed", "expired", "cancelled", "error"];

  // ------------------------------------------------------------------ text

  var TEXT = {
    id: {
      "home.title": "Haus? Ayo pilih minumanmu",
      "home.sub": "Bayar cepat pakai QRIS dari aplikasi apa saja",
      "home.cta": "Ketuk untuk membeli",
      "home.foot": "GoPay · OVO · DANA · ShopeePay · m-banking",
      "common.back": "Kembali",
      "common.finish": "Selesai",
      "common.again": "Pilih lagi",
      "menu.title": "Pilih minuman",
      "menu.note": "Bayar dengan QRIS",
      "menu.loading": "Memuat menu…",
      "menu.empty": "Belum ada minuman tersedia",
      "menu.soldOut": "Habis",
      "menu.left": "Sisa {n}",
      "creating.title": "Membuat pembayaran…",
      "payment.title": "Scan untuk membayar",
      "payment.scan": "Buka e\u2011wallet atau m\u2011banking, lalu scan kode ini",
      "payment.qrLabel": "Kode QR pembayaran",
      "payment.qrMissing": "QR tidak tersedia",
      "payment.total": "Total bayar",
      "payment.expiresIn": "Berlaku",
      "payment.waiting": "Menunggu konfirmasi…",
      "payment.cancel": "Batalkan",
      "payment.cancelling": "Membatalkan…",
      "paid.title": "Pembayaran diterima!",
      "paid.sub": "Minumanmu sedang disiapkan",
      "dispensing.title": "Minuman sedang keluar…",
      "dispensing.sub": "Ambil di laci bawah",
      "done.title": "Selamat menikmati!",
      "done.sub": "Terima kasih sudah membeli",
      "refunding.title": "Maaf, minuman gagal keluar",
      "refunding.sub": "Dana sedang dikembalikan…",
      "refunded.title": "Dana dikembalikan",
      "refunded.sub": "Maaf, minuman gagal keluar. {amount} sudah dikembalikan ke akunmu.",
      "manual.title": "Petugas akan membantu",
      "manual.sub": "Minuman gagal keluar dan dana belum bisa dikembalikan otomatis. Petugas akan mengembalikan {amount}.",
      "failed.title": "Pembayaran gagal",
      "failed.sub": "Pembayaran ditolak. Tidak ada dana yang terpotong.",
      "expired.title": "Waktu pembayaran habis",
      "expired.sub": "Kode QR sudah tidak berlaku. Tidak ada dana yang terpotong.",
      "cancelled.title": "Pesanan dibatalkan",
      "cancelled.sub": "Tidak ada dana yang terpotong.",
      "error.title": "Maaf, ada kendala",
      "error.sub": "Silakan coba lagi sebentar lagi.",
      "error.gateway": "Pembayaran sedang tidak tersedia. Silakan coba lagi sebentar lagi.",
      "error.timeout": "Pembayaran belum bisa dibuat. Silakan coba lagi.",
      "soldOut.title": "Maaf, sudah habis",
      "soldOut.sub": "{item} baru saja habis. Silakan pilih minuman lain.",
      "order.ref": "Kode pesanan: {id}",
      "offline.retry": "Offline · menyambung ulang dalam {s} dtk",
      "offline.now": "Offline · menyambung ulang…",
      "boot.text": "Menyambungkan…",
      "oos.title": "Sedang tidak melayani",
      "oos.token": "Kiosk ini belum tersambung dengan benar. Petugas sudah bisa memperbaikinya.",
      "oos.disabled": "Kiosk ini sedang dinonaktifkan oleh petugas.",
      "oos.unknown": "Kiosk ini belum terdaftar. Hubungi petugas.",
      "oos.offline": "Kiosk ini tidak tersambung ke server.",
      "oos.retry": "Mencoba lagi otomatis · kode {code}",
    },
    en: {
      "home.title": "Thirsty? Grab a drink",
      "home.sub": "Pay in seconds with QRIS from any app",
      "home.cta": "Tap to buy",
      "home.foot": "GoPay · OVO · DANA · ShopeePay · mobile banking",
      "common.back": "Back",
      "common.finish": "Done",
      "common.again": "Choose again",
      "menu.title": "Choose a drink",
      "menu.note": "Pay with QRIS",
      "menu.loading": "Loading the menu…",
      "menu.empty": "No drinks available right now",
      "menu.soldOut": "Sold out",
      "menu.left": "{n} left",
      "creating.title": "Creating your payment…",
      "payment.title": "Scan to pay",
      "payment.scan": "Open your e\u2011wallet or banking app and scan this code",
      "payment.qrLabel": "Payment QR code",
      "payment.qrMissing": "QR not available",
      "payment.total": "Total",
      "payment.expiresIn": "Expires in",
      "payment.waiting": "Waiting for confirmation…",
      "payment.cancel": "Cancel",
      "payment.cancelling": "Cancelling…",
      "paid.title": "Payment received!",
      "paid.sub": "Serving your drink",
      "dispensing.title": "Here comes your drink…",
      "dispensing.sub": "Take it from the tray below",
      "done.title": "Enjoy!",
      "done.sub": "Thank you for your purchase",
      "refunding.title": "Sorry, the drink did not come out",
      "refunding.sub": "Refunding your payment…",
      "refunded.title": "Payment refunded",
      "refunded.sub": "Sorry, the drink did not come out. {amount} has been refunded to your account.",
      "manual.title": "Staff will help you",
      "manual.sub": "The drink did not come out and the automatic refund failed. Staff will refund {amount}.",
      "failed.title": "Payment failed",
      "failed.sub": "The payment was declined. You were not charged.",
      "expired.title": "Payment time is up",
      "expired.sub": "The QR code has expired. You were not charged.",
      "cancelled.title": "Order cancelled",
      "cancelled.sub": "You were not charged.",
      "error.title": "Sorry, something went wrong",
      "error.sub": "Please try again in a moment.",
      "error.gateway": "Payments are unavailable right now. Please try again in a moment.",
      "error.timeout": "The payment could not be created. Please try again.",
      "soldOut.title": "Sorry, sold out",
      "soldOut.sub": "{item} just sold out. Please choose another drink.",
      "order.ref": "Order code: {id}",
      "offline.retry": "Offline · reconnecting in {s}s",
      "offline.now": "Offline · reconnecting…",
      "boot.text": "Connecting…",
      "oos.title": "Out of service",
      "oos.token": "This kiosk is not connected properly. Staff can fix it.",
      "oos.disabled": "This kiosk has been turned off by staff.",
      "oos.unknown": "This kiosk is not registered. Please ask staff.",
      "oos.offline": "This kiosk cannot reach the server.",
      "oos.retry": "Retrying automatically · code {code}",
    },
  };

  var lang = cfg.lang;

  function normLang(value) {
    return value === "en" ? "en" : "id";
  }

  function t(key, vars) {
    var text = (TEXT[lang] && TEXT[lang][key]) || TEXT.id[key] || key;
    if (vars) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return vars[name] !== undefined ? String(vars[name]) : m;
      });
    }
    return text;
  }

  /** Integer rupiah → "Rp 7.000". */
  function rupiah(amount) {
    var n = Math.round(Number(amount) || 0);
    var digits = String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
    return (n < 0 ? "-" : "") + "Rp " + digits;
  }

  // ------------------------------------------------------------------ DOM helpers

  function $(id) { return document.getElementById(id); }
  function all(selector) { return Array.prototype.slice.call(document.querySelectorAll(selector)); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function applyText() {
    document.documentElement.lang = lang;
    all("[data-i18n]").forEach(function (node) { node.textContent = t(node.dataset.i18n); });
    all("[data-i18n-aria]").forEach(function (node) {
      node.setAttribute("aria-label", t(node.dataset.i18nAria));
    });
    all(".lang-btn").forEach(function (btn) {
      btn.setAttribute("aria-pressed", String(btn.dataset.lang === lang));
    });
  }

  function setLang(value) {
    lang = normLang(value);
    applyText();
    renderMenu();
    if (message) fillMessage(message);
    if (screen === "out_of_service") fillOutOfService();
    if (screen === "payment") refreshCancelButton();
    updateBanner();
  }

  // ------------------------------------------------------------------ state

  var kiosk = {
    state: "boot",
    dispenser: null,
    lastEvent: null,
    events: [],
    sent: [],
    connected: false,
    orderId: null, // the order on screen
    config: cfg,
  };
  window.bayarKiosk = kiosk;

  var screen = "boot";
  var shownAt = Date.now();
  var queue = [];
  var queueTimer = null;
  var menu = [];
  var machine = null;
  var clockOffset = null; // server time − local time, ms (from STATE.server_time)
  var message = null; // the spec of the message screen on display
  var flow = null; // the current purchase: {requestId, item, order, cancelRequested, dispense}
  var idleTimer = null;
  var idleDeadline = 0;
  var idleTotal = 0;
  var countdownTimer = null;
  var creatingTimer = null;

  // ------------------------------------------------------------------ screens

  function elementFor(name) {
    return MESSAGE_SCREENS.indexOf(name) >= 0 ? $("screen-message") : $("screen-" + name);
  }

  /** Show a screen after the current one has had its minimum time (events may arrive in bursts). */
  function go(name, prepare) {
    var last = queue.length ? queue[queue.length - 1].name : screen;
    if (last === name) return; // e.g. ORDER_CANCELLED both as the answer and from the bus
    queue.push({ name: name, prepare: prepare });
    pump();
  }

  /** Show a screen now (a customer's own action), dropping anything queued. */
  function goNow(name, prepare) {
    queue = [];
    if (queueTimer) { clearTimeout(queueTimer); queueTimer = null; }
    render(name, prepare);
  }

  function pump() {
    if (queueTimer) return;
    while (queue.length) {
      var wait = (DWELL[screen] || 0) - (Date.now() - shownAt);
      if (wait > 0) {
        queueTimer = setTimeout(function () { queueTimer = null; pump(); }, wait);
        return;
      }
      var next = queue.shift();
      render(next.name, next.prepare);
    }
  }

  function render(name, prepare) {
    if (prepare) prepare();
    var target = elementFor(name);
    all(".screen.active").forEach(function (node) {
      if (node !== target) node.classList.remove("active");
    });
    if (!target.classList.contains("active") || name !== screen) {
      // (re)play the entrance; also for message → message on the same element
      target.classList.remove("enter");
      void target.offsetWidth;
      target.classList.add("active", "enter");
    }
    screen = name;
    shownAt = Date.now();
    kiosk.state = name;
    body.dataset.screen = name;
    onEnter(name);
  }

  function onEnter(name) {
    stopIdle();
    stopCountdown();
    if (creatingTimer && name !== "creating") { clearTimeout(creatingTimer); creatingTimer = null; }
    if (name === "menu") {
      startIdle(cfg.idleMenu);
    } else if (FINAL[name]) {
      startIdle(cfg.idleFinal * FINAL[name]);
    } else if (name === "payment") {
      startCountdown();
    } else if (name === "creating") {
      if (creatingTimer) clearTimeout(creatingTimer);
      creatingTimer = setTimeout(function () {
        creatingTimer = null;
        if (screen === "creating") {
          flow = null;
          go("error", function () { showMessage("error", { sub: t("error.timeout") }); });
        }
      }, CREATING_LIMIT);
    } else if (name === "home") {
      flow = null;
      kiosk.orderId = null;
      message = null;
    }
  }

  function goHome() {
    if (lang !== cfg.lang) setLang(cfg.lang); // the next customer starts in the kiosk's language
    goNow("home");
  }

  // ------------------------------------------------------------------ idle timeout

  function startIdle(seconds) {
    idleTotal = seconds * 1000;
    idleDeadline = Date.now() + idleTotal;
    paintIdle();
    idleTimer = setInterval(function () {
      paintIdle();
      if (Date.now() >= idleDeadline) goHome();
    }, 200);
  }

  function stopIdle() {
    if (idleTimer) { clearInterval(idleTimer); idleTimer = null; }
  }

  function touchIdle() {
    if (idleTimer && screen === "menu") {
      idleDeadline = Date.now() + idleTotal;
      paintIdle();
    }
  }

  function paintIdle() {
    var left = Math.max(0, idleDeadline - Date.now());
    var ratio = idleTotal ? left / idleTotal : 0;
    var node = elementFor(screen);
    var fill = node && node.querySelector(".idle-fill");
    if (fill) fill.style.transform = "scaleX(" + ratio.toFixed(4) + ")";
  }

  // ------------------------------------------------------------------ menu

  var CACHE_KEY = "bayar.kiosk." + cfg.machineId + ".last";

  /** The last menu and machine seen, so a kiosk that boots while bayar is down still looks right. */
  function saveCache() {
    try {
      window.localStorage.setItem(CACHE_KEY, JSON.stringify({ menu: menu, machine: machine }));
    } catch (e) {
      /* private mode or full: no cache */
    }
  }

  function loadCache() {
    try {
      var cached = JSON.parse(window.localStorage.getItem(CACHE_KEY) || "null");
      if (cached && Array.isArray(cached.menu)) {
        menu = cached.menu;
        renderShowcase();
      }
      if (cached && cached.machine) setMachine(cached.machine);
    } catch (e) {
      /* a broken cache is no cache */
    }
  }

  function updateMenu(items) {
    if (!Array.isArray(items)) return;
    menu = items.slice().sort(function (a, b) {
      return String(a.slot || "").localeCompare(String(b.slot || ""), undefined, { numeric: true });
    });
    renderMenu();
    renderShowcase();
    saveCache();
  }

  function renderMenu() {
    var grid = $("menu-grid");
    var empty = $("menu-empty");
    grid.textContent = "";
    var count = menu.length;
    var cols = count <= 3 ? Math.max(count, 1) : count === 4 ? 4 : count <= 6 ? 3 : 4;
    grid.style.setProperty("--cols", String(cols));
    grid.style.setProperty("--rows", String(Math.min(2, Math.ceil(count / cols)) || 1));
    grid.classList.toggle("scrolls", count > 8);
    empty.hidden = count > 0;
    empty.textContent = t(haveState ? "menu.empty" : "menu.loading");
    menu.forEach(function (item) {
      var card = el("button", "card");
      card.type = "button";
      card.setAttribute("role", "listitem");
      card.dataset.productId = item.id;
      if (item.slot) card.dataset.slot = item.slot;
      var soldOut = item.available === false;
      card.disabled = soldOut;
      card.classList.toggle("sold-out", soldOut);
      card.setAttribute("aria-disabled", String(soldOut));
      var pic = el("span", "card-pic");
      var img = el("img");
      img.alt = "";
      img.draggable = false;
      img.src = item.image_url || "";
      pic.appendChild(img);
      if (soldOut) pic.appendChild(el("span", "card-ribbon", t("menu.soldOut")));
      card.appendChild(pic);
      var info = el("span", "card-info");
      info.appendChild(el("span", "card-name", item.name));
      var row = el("span", "card-row");
      row.appendChild(el("span", "card-price", rupiah(item.price)));
      if (!soldOut && typeof item.stock === "number" && item.stock > 0 && item.stock <= 3) {
        row.appendChild(el("span", "card-left", t("menu.left", { n: item.stock })));
      }
      info.appendChild(row);
      card.appendChild(info);
      if (item.slot) card.appendChild(el("span", "card-slot", String(item.slot)));
      card.addEventListener("click", function () { order(item); });
      grid.appendChild(card);
    });
  }

  function renderShowcase() {
    var box = $("home-showcase");
    box.textContent = "";
    var shown = menu.filter(function (i) { return i.image_url && i.available !== false; }).slice(0, 5);
    shown.forEach(function (item, index) {
      var img = el("img");
      img.alt = "";
      img.draggable = false;
      img.src = item.image_url;
      img.style.setProperty("--i", String(index));
      img.style.setProperty("--n", String(shown.length));
      box.appendChild(img);
    });
  }

  // ------------------------------------------------------------------ the purchase

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID(); // secure contexts only (https, localhost)
    }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b); // available on plain http too
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function order(item) {
    if (screen !== "menu" || item.available === false) return;
    flow = { requestId: uuid(), item: item, order: null, cancelRequested: false };
    goNow("creating", function () { setItem(item); });
    sendOrder();
  }

  function sendOrder() {
    if (!flow || flow.order) return;
    send("ORDER", { id: flow.item.id, total: 1, request_id: flow.requestId });
  }

  function setItem(item) {
    if (!item) return;
    all(".item-img").forEach(function (img) {
      if (item.image_url) {
        img.src = item.image_url;
        img.hidden = false;
      } else {
        img.removeAttribute("src");
        img.hidden = true;
      }
    });
    all(".item-name").forEach(function (node) { node.textContent = item.name || ""; });
    all(".item-price").forEach(function (node) {
      node.textContent = item.price !== undefined && item.price !== null ? rupiah(item.price) : "";
    });
  }

  function itemOf(values) {
    var item = values.item || {};
    var known = findProduct(item.id || values.product_id) || {};
    return {
      id: item.id || values.product_id || known.id,
      name: item.name || values.name || known.name || "",
      price: item.price !== undefined ? item.price : values.gross_amount !== undefined ? values.gross_amount : known.price,
      image_url: item.image_url || known.image_url || "",
    };
  }

  function findProduct(id) {
    for (var i = 0; i < menu.length; i++) if (menu[i].id === id) return menu[i];
    return null;
  }

  /** Make `values` (ORDER_CREATED or STATE.order) the order on screen. */
  function adoptOrder(values) {
    var same = flow && flow.order && flow.order.order_id === values.order_id;
    if (!flow || (flow.order && !same)) {
      flow = { requestId: null, item: null, order: null, cancelRequested: false };
    }
    if (!same) flow.cancelRequested = false;
    flow.order = Object.assign({}, flow.order || {}, values);
    kiosk.orderId = values.order_id;
    flow.item = itemOf(flow.order);
    if (flow.order.gross_amount !== undefined) flow.item.price = flow.order.gross_amount;
    setItem(flow.item);
  }

  /** A DISPENSE or result event about an order we may not know yet (e.g. paid while offline). */
  function adoptOrderId(values) {
    if (flow && flow.order && flow.order.order_id === values.order_id) return;
    var item = itemOf(values);
    flow = { requestId: null, item: item, order: { order_id: values.order_id }, cancelRequested: false };
    kiosk.orderId = values.order_id;
    setItem(item);
  }

  function isCurrent(orderId) {
    return !!(flow && flow.order && flow.order.order_id === orderId);
  }

  function showPayment() {
    var o = flow.order;
    renderQr(o.qr_svg, o.qr_string);
    var now = Date.now();
    var serverExpiry = Date.parse(o.expiry_time || "");
    if (!isNaN(serverExpiry) && clockOffset !== null) {
      flow.expiresAt = serverExpiry - clockOffset; // local clock
    } else if (typeof o.seconds_left === "number") {
      flow.expiresAt = now + o.seconds_left * 1000;
    } else if (!isNaN(serverExpiry)) {
      flow.expiresAt = serverExpiry;
    } else {
      flow.expiresAt = now + 15 * 60 * 1000;
    }
    var span = typeof o.seconds_left === "number" && o.seconds_left > 0 ? o.seconds_left * 1000 : flow.expiresAt - now;
    if (!flow.expirySpan || flow.expirySpan < span) flow.expirySpan = Math.max(span, 1000);
    refreshCancelButton();
  }

  function renderQr(svgText, qrString) {
    var box = $("qr-box");
    box.textContent = "";
    box.dataset.qrString = qrString || "";
    var svg = null;
    if (svgText) {
      // The HTML parser takes both a full document (<?xml …?> and xmlns) and segno's inline
      // form (no xmlns), and puts <svg> in the SVG namespace. Template content is inert.
      var tpl = document.createElement("template");
      tpl.innerHTML = String(svgText);
      var found = tpl.content.querySelector("svg");
      if (found) svg = document.importNode(found, true);
    }
    if (!svg) {
      box.appendChild(el("span", "qr-missing", t("payment.qrMissing")));
      return;
    }
    Array.prototype.slice.call(svg.querySelectorAll("script, foreignObject")).forEach(function (n) { n.remove(); });
    if (!svg.getAttribute("viewBox")) {
      var w = parseFloat(svg.getAttribute("width"));
      var h = parseFloat(svg.getAttribute("height"));
      if (w > 0 && h > 0) svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    }
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("shape-rendering", "crispEdges");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    svg.setAttribute("aria-hidden", "true");
    svg.classList.add("qr-svg");
    box.appendChild(svg);
  }

  function refreshCancelButton() {
    var btn = $("payment-cancel");
    var pending = !!(flow && flow.cancelRequested);
    btn.disabled = pending;
    btn.querySelector("span").textContent = t(pending ? "payment.cancelling" : "payment.cancel");
  }

  function cancel() {
    if (screen !== "payment" || !flow || !flow.order || flow.cancelRequested) return;
    flow.cancelRequested = true;
    refreshCancelButton();
    var orderId = flow.order.order_id;
    send("CANCEL", { order_id: orderId });
    // The answer is ORDER_CANCELLED, or PAYMENT_SUCCESS when the payment won the race. If neither
    // came (a frame lost with a socket), ask where the order stands; STATE sends CANCEL again.
    setTimeout(function () {
      if (screen === "payment" && flow && flow.cancelRequested && isCurrent(orderId)) send("STATE", {});
    }, 5000);
  }

  function startCountdown() {
    paintCountdown();
    countdownTimer = setInterval(paintCountdown, 250);
  }

  function stopCountdown() {
    if (countdownTimer) { clearInterval(countdownTimer); countdownTimer = null; }
  }

  function paintCountdown() {
    if (!flow || !flow.expiresAt) return;
    var left = flow.expiresAt - Date.now();
    var secs = Math.max(0, Math.ceil(left / 1000));
    var box = $("countdown");
    $("countdown-time").textContent = Math.floor(secs / 60) + ":" + String(secs % 60).padStart(2, "0");
    var ratio = Math.max(0, Math.min(1, left / (flow.expirySpan || 1)));
    $("countdown-fill").style.transform = "scaleX(" + ratio.toFixed(4) + ")";
    box.classList.toggle("warn", secs <= 60);
    box.classList.toggle("over", secs === 0);
    box.querySelector(".countdown-label").textContent = t(secs === 0 ? "payment.waiting" : "payment.expiresIn");
    if (left < -EXPIRY_GRACE && (!flow.resyncAt || Date.now() - flow.resyncAt > EXPIRY_GRACE)) {
      flow.resyncAt = Date.now();
      send("STATE", {}); // the EXPIRED event went missing? ask the server where we are
    }
  }

  // ------------------------------------------------------------------ message screens

  function showMessage(kind, extra) {
    message = Object.assign({ kind: kind }, extra || {});
    fillMessage(message);
  }

  function fillMessage(spec) {
    var kind = spec.kind;
    var amount = spec.amount !== undefined && spec.amount !== null ? rupiah(spec.amount) : flow && flow.item ? rupiah(flow.item.price) : "";
    var keys = {
      refunding: ["refunding.title", "refunding.sub", "alert", "warn"],
      refunded: ["refunded.title", "refunded.sub", "return", "info"],
      "manual-refund": ["manual.title", "manual.sub", "person", "warn"],
      failed: ["failed.title", "failed.sub", "x", "bad"],
      expired: ["expired.title", "expired.sub", "clock", "muted"],
      cancelled: ["cancelled.title", "cancelled.sub", "x", "muted"],
      error: ["error.title", "error.sub", "alert", "bad"],
    }[kind];
    var title = spec.titleKey ? t(spec.titleKey) : t(keys[0]);
    var sub = spec.subKey ? t(spec.subKey, spec.vars) : spec.sub || t(keys[1], { amount: amount });
    $("message-title").textContent = title;
    $("message-body").textContent = sub;
    $("message-icon").setAttribute("href", "#i-" + keys[2]);
    $("message-badge").className = "badge-circle pop badge-" + keys[3];
    var busy = kind === "refunding";
    $("message-spinner").hidden = !busy;
    $("message-badge").hidden = busy;
    $("message-home").hidden = busy;
    $("message-home").querySelector("span").textContent = t(spec.again ? "common.again" : "common.finish");
    $("message-home").dataset.target = spec.again ? "menu" : "home";
    var orderId = spec.orderId || (flow && flow.order && flow.order.order_id);
    var showRef = (kind === "manual-refund" || kind === "refunded" || kind === "refunding") && orderId;
    $("message-ref").textContent = showRef ? t("order.ref", { id: orderId }) : "";
  }

  // ------------------------------------------------------------------ dispenser

  /**
   * The dispenser driver interface: `dispense(command) -> Promise<{ok, detail}>`, where command is
   * the DISPENSE values ({order_id, dispense_id, slot, product_id, name}). A driver must not drop
   * two items for one dispense_id; this simulated one remembers executed ids in localStorage.
   */
  function SimulatedDispenser(options) {
    this.mode = options.mode || "ok"; // "ok" | "fail" | "silent"
    this.failNext = false;
    this.durationMs = options.durationMs || 1500;
    this.storageKey = "bayar.kiosk." + options.machineId + ".dispensed";
    this.inFlight = {};
    this.executed = []; // dispense_ids this page actually dispensed (not answered from memory)
  }

  SimulatedDispenser.prototype.memory = function () {
    try {
      return JSON.parse(window.localStorage.getItem(this.storageKey) || "{}") || {};
    } catch (e) {
      return {};
    }
  };

  SimulatedDispenser.prototype.remember = function (id, record) {
    var mem = this.memory();
    mem[id] = record;
    var ids = Object.keys(mem).sort(function (a, b) { return (mem[a].at || 0) - (mem[b].at || 0); });
    while (ids.length > 200) delete mem[ids.shift()];
    try {
      window.localStorage.setItem(this.storageKey, JSON.stringify(mem));
    } catch (e) {
      /* storage full or disabled: the in-memory map still prevents repeats on this page */
    }
  };

  SimulatedDispenser.prototype.dispense = function (command) {
    var self = this;
    var id = String(command.dispense_id);
    if (this.inFlight[id]) return this.inFlight[id];
    var known = this.memory()[id];
    if (known && known.done) {
      return Promise.resolve({ ok: known.ok, detail: known.detail, repeated: true });
    }
    if (known && !known.done) {
      // started before a reload and never finished: the motor may or may not have turned
      var detail = "interrupted: dispensing started before a restart, outcome unknown";
      this.remember(id, { done: true, ok: false, detail: detail, at: Date.now() });
      return Promise.resolve({ ok: false, detail: detail, repeated: true });
    }
    var fail = this.mode === "fail" || this.failNext;
    this.failNext = false;
    this.remember(id, { done: false, at: Date.now(), slot: command.slot });
    var promise = new Promise(function (resolve) {
      if (self.mode === "silent") return; // never answers: the server's timeout refunds
      setTimeout(function () {
        self.executed.push(id);
        var result = fail
          ? { ok: false, detail: "simulated failure: slot " + (command.slot || "?") + " jammed" }
          : { ok: true, detail: "simulated: dropped 1 from slot " + (command.slot || "?") };
        self.remember(id, { done: true, ok: result.ok, detail: result.detail, at: Date.now() });
        delete self.inFlight[id];
        resolve(result);
      }, self.durationMs);
    });
    this.inFlight[id] = promise;
    return promise;
  };

  var dispenserMode = params.get("dispenser");
  kiosk.dispenser = new SimulatedDispenser({
    machineId: cfg.machineId,
    mode: dispenserMode === "fail" || dispenserMode === "silent" ? dispenserMode : "ok",
  });
  kiosk.SimulatedDispenser = SimulatedDispenser;

  var unsentResults = {}; // dispense_id → DISPENSE_RESULT values, until a socket takes them

  function onDispense(values) {
    adoptOrderId(values);
    flow.dispense = { dispense_id: values.dispense_id, status: "dispensing" };
    if (screen !== "dispensing") go("dispensing", function () { setItem(flow && flow.item); });
    var driver = kiosk.dispenser;
    Promise.resolve()
      .then(function () { return driver.dispense(values); })
      .catch(function (err) { return { ok: false, detail: "driver error: " + (err && err.message ? err.message : String(err)) }; })
      .then(function (result) {
        var answer = {
          order_id: values.order_id,
          dispense_id: values.dispense_id,
          ok: !!(result && result.ok),
          detail: (result && result.detail) || "",
        };
        if (!send("DISPENSE_RESULT", answer)) unsentResults[answer.dispense_id] = answer;
        if (!answer.ok && isCurrent(values.order_id) && screen !== "refunded" && screen !== "manual-refund") {
          go("refunding", function () { showMessage("refunding"); });
        }
      });
  }

  function flushResults() {
    Object.keys(unsentResults).forEach(function (id) {
      if (send("DISPENSE_RESULT", unsentResults[id])) delete unsentResults[id];
    });
  }

  // ------------------------------------------------------------------ server events

  var haveState = false;

  function handle(frame) {
    var data;
    try {
      data = JSON.parse(frame);
    } catch (e) {
      return;
    }
    if (!data || typeof data.event !== "string") return;
    var v = data.values && typeof data.values === "object" ? data.values : {};
    kiosk.lastEvent = data;
    kiosk.events.push(data);
    if (kiosk.events.length > 500) kiosk.events.splice(0, kiosk.events.length - 500);
    var fn = HANDLERS[data.event];
    if (!fn) return;
    try {
      fn(v);
    } catch (err) {
      if (window.console) console.error("bayar kiosk: " + data.event, err);
    }
  }

  var ORDER_SCREENS = ["creating", "payment", "paid", "dispensing", "refunding"];

  var HANDLERS = {
    STATE: function (v) {
      haveState = true;
      if (screen === "out_of_service") { oosReason = null; goNow("home"); } // the cause is gone
      reconnectAttempt = 0;
      updateBanner();
      var serverNow = Date.parse(v.server_time || "");
      if (!isNaN(serverNow)) clockOffset = serverNow - Date.now();
      if (v.machine) setMachine(v.machine);
      if (v.menu) updateMenu(v.menu);
      else renderMenu();
      var o = v.order;
      var s = v.screen;
      if (o && o.order_id && s === "payment") {
        var resend = isCurrent(o.order_id) && flow.cancelRequested;
        adoptOrder(o);
        if (resend) send("CANCEL", { order_id: o.order_id });
        go("payment", showPayment);
        if (screen === "payment") showPayment();
      } else if (o && o.order_id && s === "dispensing") {
        adoptOrder(o);
        go("dispensing");
      } else if (o && o.order_id && s === "refunding") {
        adoptOrder(o);
        go("refunding", function () { showMessage("refunding"); });
      } else if (o && o.order_id && (s === "done" || s === "failed") && isCurrent(o.order_id) && ORDER_SCREENS.indexOf(screen) >= 0) {
        adoptOrder(o);
        finishFromStatus(o);
      } else if (screen === "creating" && flow && !flow.order) {
        sendOrder(); // the ORDER (or its answer) was lost with the old socket: same request_id
      } else if (screen === "boot") {
        go("home");
      } else if (ORDER_SCREENS.indexOf(screen) >= 0) {
        if (o && o.order_id && isCurrent(o.order_id)) finishFromStatus(o);
        else if (dispensedHere()) go("done"); // DISPENSED was lost with the socket
        else goHome(); // the order ended while we were away
      }
      flushResults();
    },
    SHOW_MENU: function (v) {
      updateMenu(v.items);
    },
    ORDER_CREATED: function (v) {
      if (flow && flow.order && flow.order.order_id !== v.order_id && ["payment", "paid", "dispensing"].indexOf(screen) >= 0) {
        return; // another order is on screen; this one will expire unpaid
      }
      adoptOrder(v);
      go("payment", showPayment);
    },
    PAYMENT_SUCCESS: function (v) {
      adoptOrderId(v);
      if (flow.order) flow.order.status = "paid";
      if (screen !== "dispensing") go("paid");
    },
    PAYMENT_FAILED: function (v) {
      if (!isCurrent(v.order_id)) return;
      go("failed", function () { showMessage("failed", { reason: v.reason }); });
    },
    EXPIRED: function (v) {
      if (!isCurrent(v.order_id)) return;
      go("expired", function () { showMessage("expired"); });
    },
    ORDER_CANCELLED: function (v) {
      if (!isCurrent(v.order_id)) return;
      go("cancelled", function () { showMessage("cancelled"); });
    },
    DISPENSE: onDispense,
    DISPENSED: function (v) {
      adoptOrderId(v);
      go("done");
    },
    REFUNDED: function (v) {
      adoptOrderId(v);
      go("refunded", function () { showMessage("refunded", { amount: v.amount, orderId: v.order_id }); });
    },
    MANUAL_REFUND: function (v) {
      adoptOrderId(v);
      go("manual-refund", function () { showMessage("manual-refund", { amount: v.amount, orderId: v.order_id }); });
    },
    ERROR: function (v) {
      if (screen === "creating" && flow && !flow.order) {
        var item = flow.item;
        flow = null;
        if (v.code === "sold_out") {
          send("SHOW_MENU", {});
          go("error", function () {
            showMessage("error", { titleKey: "soldOut.title", subKey: "soldOut.sub", vars: { item: item ? item.name : "" }, again: true });
          });
        } else {
          go("error", function () {
            showMessage("error", { subKey: v.code === "gateway" ? "error.gateway" : "error.sub" });
          });
        }
      } else if (flow && flow.cancelRequested) {
        flow.cancelRequested = false; // not allowed (paid meanwhile?): ask where we are
        refreshCancelButton();
        send("STATE", {});
      }
    },
    PONG: function () {},
  };

  /** This page's dispenser dropped the current order's item (so "enjoy" is the truth). */
  function dispensedHere() {
    var id = flow && flow.dispense && flow.dispense.dispense_id;
    if (!id) return false;
    var known = kiosk.dispenser && kiosk.dispenser.memory ? kiosk.dispenser.memory()[id] : null;
    return !!(known && known.done && known.ok);
  }

  /** Waiting on the server for long (a lost event?): ask it where we are, now and then. */
  var lastResync = 0;
  function watchdog() {
    if (!kiosk.connected || !WAITING[screen]) return;
    var now = Date.now();
    if (now - shownAt > WAITING[screen] && now - lastResync > 20000) {
      lastResync = now;
      send("STATE", {});
    }
  }

  /** A final screen from an order's status (STATE of an order that ended while we were away). */
  function finishFromStatus(o) {
    var status = o.status;
    var dispense = o.dispense || {};
    if (status === "fulfilled" || dispense.status === "ok" || dispense.status === "done") {
      go("done");
    } else if (status === "refunded" || status === "partially_refunded") {
      go("refunded", function () { showMessage("refunded", { amount: o.gross_amount }); });
    } else if (status === "expired") {
      go("expired", function () { showMessage("expired"); });
    } else if (status === "cancelled") {
      go("cancelled", function () { showMessage("cancelled"); });
    } else if (status === "failed") {
      go("failed", function () { showMessage("failed"); });
    } else if (status === "paid") {
      go("manual-refund", function () { showMessage("manual-refund", { amount: o.gross_amount }); });
    } else {
      goHome();
    }
  }

  function setMachine(m) {
    machine = m;
    $("machine-name").textContent = m.name || m.id || cfg.machineId;
    $("machine-location").textContent = m.location || "";
    all(".machine-name-copy").forEach(function (node) { node.textContent = m.name || m.id || ""; });
  }

  // ------------------------------------------------------------------ the socket

  var ws = null;
  var reconnectAttempt = 0;
  var reconnectTimer = null;
  var reconnectAt = 0;
  var lastClose = null;
  var lastFrameAt = 0;
  var pingTimer = null;
  var everConnected = false;
  var bootAt = Date.now();
  var downSince = bootAt; // when the connection was lost (0 while connected)
  var oosReason = null;

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + cfg.wsPath + "?token=" + encodeURIComponent(cfg.token);
  }

  function connect() {
    if (reconnectTimer) { clearTimeout(reconnectTimer); reconnectTimer = null; }
    var sock;
    try {
      sock = new WebSocket(socketUrl());
    } catch (err) {
      scheduleReconnect(null);
      return;
    }
    ws = sock;
    sock.onopen = function () {
      if (sock !== ws) return;
      downSince = 0;
      kiosk.connected = true;
      everConnected = true;
      lastClose = null;
      lastFrameAt = Date.now();
      updateBanner();
      startPing();
    };
    sock.onmessage = function (e) {
      if (sock !== ws) return;
      lastFrameAt = Date.now();
      handle(e.data);
    };
    sock.onclose = function (e) {
      if (sock !== ws) return;
      ws = null;
      kiosk.connected = false;
      stopPing();
      lastClose = e.code;
      if (!downSince) downSince = Date.now();
      if (OUT_OF_SERVICE[e.code]) outOfService(OUT_OF_SERVICE[e.code], e.code);
      scheduleReconnect(e.code);
    };
    sock.onerror = function () { /* a close event follows */ };
  }

  /** The full-screen "out of service" (no buy button); STATE (the cause gone) brings home back. */
  function outOfService(reasonKey, code) {
    oosReason = { key: reasonKey, code: code };
    flow = null;
    goNow("out_of_service", fillOutOfService);
  }

  function fillOutOfService() {
    if (!oosReason) return;
    $("oos-body").textContent = t(oosReason.key);
    $("oos-retry").textContent = t("oos.retry", { code: oosReason.code || "—" });
  }

  function scheduleReconnect(code) {
    if (RESTART_CODES[code]) {
      reconnectAttempt = 0; // a restart is no failure: the backoff starts over
      var soon = Math.random() * RESTART_SPREAD;
      reconnectAt = Date.now() + soon;
      reconnectTimer = setTimeout(connect, soon);
      updateBanner();
      return;
    }
    var base = Math.min(RECONNECT_MAX, RECONNECT_MIN * Math.pow(2, reconnectAttempt));
    if (OUT_OF_SERVICE[code]) base = RECONNECT_MAX; // a person must act: retry slowly
    reconnectAttempt += 1;
    var delay = Math.min(RECONNECT_MAX, base * (0.8 + Math.random() * 0.4)); // ±20% jitter
    reconnectAt = Date.now() + delay;
    reconnectTimer = setTimeout(connect, delay);
    updateBanner();
    if (screen === "boot" && !haveState) go("home"); // work offline: the home screen needs no server
  }

  function startPing() {
    stopPing();
    pingTimer = setInterval(function () {
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - lastFrameAt > SILENCE_LIMIT) {
        try { ws.close(4000, "silent"); } catch (e) { /* ignore */ }
        var dead = ws;
        ws = null;
        kiosk.connected = false;
        stopPing();
        dead.onclose = null;
        scheduleReconnect(null);
        return;
      }
      send("PING", {});
    }, PING_EVERY);
  }

  function stopPing() {
    if (pingTimer) { clearInterval(pingTimer); pingTimer = null; }
  }

  function send(event, values) {
    var frame = { event: event, values: values || {} };
    kiosk.sent.push(frame);
    if (kiosk.sent.length > 500) kiosk.sent.splice(0, kiosk.sent.length - 500);
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch (err) {
      return false;
    }
  }

  function updateBanner() {
    var banner = $("offline");
    var down = !kiosk.connected;
    if (down && downSince && Date.now() - downSince > OFFLINE_LIMIT && screen !== "out_of_service") {
      if (ORDER_SCREENS.indexOf(screen) < 0) outOfService("oos.offline", lastClose);
    }
    if (screen === "out_of_service") down = false; // the screen says it all, in plain words
    var show = down && (everConnected || reconnectAttempt > 0 || Date.now() - bootAt > 2500);
    banner.hidden = !show;
    body.classList.toggle("is-offline", show);
    if (!show) return;
    var secs = Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000));
    var text;
    if (reconnectTimer && secs > 0) text = t("offline.retry", { s: secs });
    else text = t("offline.now");
    $("offline-text").textContent = text;
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    applyText();
    all(".lang-btn").forEach(function (btn) {
      btn.addEventListener("click", function (e) {
        e.stopPropagation();
        setLang(btn.dataset.lang);
      });
    });
    $("screen-home").addEventListener("click", function (e) {
      if (e.target.closest(".lang-toggle")) return;
      if (screen !== "home") return;
      goNow("menu");
      send("SHOW_MENU", {});
    });
    $("menu-back").addEventListener("click", function () { goHome(); });
    $("payment-cancel").addEventListener("click", cancel);
    all(".js-home").forEach(function (btn) {
      btn.addEventListener("click", function () {
        if (btn.dataset.target === "menu") {
          goNow("menu");
          send("SHOW_MENU", {});
        } else {
          goHome();
        }
      });
    });
    ["pointerdown", "keydown", "wheel", "touchmove"].forEach(function (type) {
      document.addEventListener(type, touchIdle, { passive: true });
    });
    $("menu-grid").addEventListener("scroll", touchIdle, { passive: true });
    document.addEventListener("contextmenu", function (e) { e.preventDefault(); });
    setInterval(updateBanner, 500);
    setInterval(watchdog, 1000);
    // no STATE soon (server not up yet): show home anyway; it works without the server
    setTimeout(function () { if (screen === "boot") go("home"); }, 2500);
    loadCache();
    renderMenu();
    render("boot");
    connect();
  }

  wire();
})();
