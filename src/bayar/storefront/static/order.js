/*
 * The order page: shows the order as the backend knows it and follows it live.
 *
 * The page is rendered by the server; this script asks GET /api/orders/{order_id} every 2 s until
 * the status is final and re-renders in place (no reload). A snap.js callback only triggers an
 * earlier look at the backend; it never decides the status shown.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var MAX_BACKOFF_MS = 15000;
  var KEYS = { cart: "bayar.shop.cart", attempt: "bayar.shop.attempt" };

  var $ = function (selector, root) {
    return (root || document).querySelector(selector);
  };
  var $$ = function (selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  };

  var data = JSON.parse($("#order-data").textContent);
  // The words this script writes, in the page's language: the catalog's messages it uses,
  // embedded by the page (bayar.i18n); `{name}` is filled from `vars`.
  var WORDS = JSON.parse($("#i18n-words").textContent);

  function t(message, vars) {
    var text = WORDS[message] || message;
    return vars
      ? text.replace(/\{(\w+)\}/g, function (m, name) {
          return vars[name] !== undefined ? String(vars[name]) : m;
        })
      : text;
  }
  var root = $("[data-order-root]");
  var order = data.order;
  var timer = null;
  var failures = 0;
  var lastStatus = order.declined_attempt ? "declined" : order.status;

  function viewOf(status) {
    if (status === "paid" || status === "fulfilled") return "paid";
    if (status === "refunded" || status === "partially_refunded") return "refunded";
    if (status === "failed" || status === "expired" || status === "cancelled") return "failed";
    return "pending";
  }

  function kindOf(payment) {
    if (!payment) return "wait";
    if (payment.va_number) return "va";
    if (payment.bill_key) return "bill";
    if (payment.payment_code) return "code";
    if (payment.qr_string) return "qr";
    if (payment.token || payment.redirect_url) return "snap";
    return "wait";
  }

  function methodOf(payment) {
    if (!payment) return "—";
    var key = payment.bank || payment.store || payment.payment_type || "";
    if (data.labels[key]) return data.labels[key];
    var words = key.replace(/_/g, " ");
    return words ? words.charAt(0).toUpperCase() + words.slice(1) : "—";
  }

  function isFinal(status) {
    return data.final.indexOf(status) !== -1;
  }

  function setField(name, value) {
    $$('[data-field="' + name + '"]').forEach(function (node) {
      if (node.textContent !== value) node.textContent = value;
    });
  }

  // -- the shop's cart: settled once this order took it over ---------------------------------------

  function settleCart(view, kind) {
    var attempt;
    try {
      attempt = JSON.parse(window.localStorage.getItem(KEYS.attempt) || "null");
    } catch {
      return;
    }
    if (!attempt || attempt.order_id !== order.order_id) return;
    try {
      if (view === "failed") {
        // The cart stays for "shop again"; a new attempt makes a new order.
        window.localStorage.removeItem(KEYS.attempt);
      } else if (view !== "pending" || (kind !== "snap" && kind !== "wait")) {
        // Paid, or a payment method is chosen: the cart became this order.
        window.localStorage.removeItem(KEYS.cart);
        window.localStorage.removeItem(KEYS.attempt);
      }
    } catch {
      /* storage unavailable */
    }
  }

  // -- rendering -------------------------------------------------------------------------------------

  function render(o) {
    var view = viewOf(o.status);
    var kind = kindOf(o.payment);
    var p = o.payment || {};
    // A pending order whose last card was declined says so (routes.py text_key: the same rule).
    var key = o.declined_attempt ? "declined" : o.status;
    var text = data.text[key] || [o.status, ""];

    root.setAttribute("data-status", o.status);
    root.setAttribute("data-declined", o.declined_attempt ? "1" : "0");
    root.setAttribute("data-view", view);
    root.setAttribute("data-kind", kind);
    $("[data-title]").textContent = text[0];
    $("[data-message]").textContent = text[1];
    document.title =
      text[0] + " · " + t("order {order}", { order: o.order_id }) + " · Toko Minuman";

    $$("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-panel") !== view;
    });
    $$("[data-instr]").forEach(function (block) {
      block.hidden = block.getAttribute("data-instr") !== kind;
    });

    setField("bank", (p.bank || "").toUpperCase());
    setField("va_number", p.va_number || "");
    setField("biller_code", p.biller_code || "");
    setField("bill_key", p.bill_key || "");
    setField("payment_code", p.payment_code || "");
    setField("store", data.labels[p.store] || p.store || t("the store"));
    setField("method", methodOf(o.payment));

    var qr = $("[data-qr]");
    if (kind === "qr" && !qr.getAttribute("src")) {
      qr.setAttribute("src", "/orders/" + encodeURIComponent(o.order_id) + "/qr.svg");
    }
    $("[data-continue]").hidden = !p.token;
    $("[data-snap-title]").textContent = o.declined_attempt
      ? t("Pay another way")
      : t("The payment is not finished yet");
    $("[data-continue]").textContent = o.declined_attempt
      ? t("Try another card or method")
      : t("Continue payment");
    var link = $("[data-redirect]");
    if (p.redirect_url) {
      // Snap's redirect mode takes its language as a query parameter.
      const sep = p.redirect_url.indexOf("?") < 0 ? "?" : "&";
      link.setAttribute("href", p.redirect_url + sep + "language=" + document.documentElement.lang);
      link.hidden = false;
    } else {
      link.hidden = true;
    }

    var chip = $("[data-chip]");
    chip.className = "chip chip-" + view;
    chip.textContent = data.statuses[o.status] || o.status.replace(/_/g, " ");

    if (key !== lastStatus) {
      $("[data-announce]").textContent = text[0] + ". " + text[1];
      lastStatus = key;
    }
    settleCart(view, kind);
    tick();
  }

  // -- countdown to the order's deadline -------------------------------------------------------------

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function tick() {
    var box = $("[data-deadline-box]");
    var left = Math.floor((Date.parse(order.expiry_time) - Date.now()) / 1000);
    if (Number.isNaN(left)) {
      box.hidden = true;
      return;
    }
    var value;
    if (left <= 0) {
      value = t("time is up");
    } else {
      const h = Math.floor(left / 3600);
      const m = Math.floor((left % 3600) / 60);
      const s = left % 60;
      value = h > 0 ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
    }
    box.classList.toggle("is-over", left <= 0);
    var countdown = $("[data-countdown]");
    if (countdown.textContent !== value) countdown.textContent = value;
  }

  // -- asking the backend ----------------------------------------------------------------------------

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, ms);
  }

  function poll() {
    window.clearTimeout(timer);
    window
      .fetch("/api/orders/" + encodeURIComponent(order.order_id), {
        headers: { Accept: "application/json" },
        cache: "no-store",
      })
      .then(function (response) {
        if (response.status === 404) return null;
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(
        function (fresh) {
          failures = 0;
          if (!fresh) return; // gone: keep what is shown
          order = fresh;
          render(order);
          if (!isFinal(order.status)) schedule(POLL_MS);
        },
        function () {
          failures += 1; // offline for a moment: ask again, a little less often
          schedule(Math.min(POLL_MS * 2 ** failures, MAX_BACKOFF_MS));
        },
      );
  }

  // -- continue a Snap payment -----------------------------------------------------------------------

  function note(message) {
    var box = $("[data-continue-note]");
    box.textContent = message;
    box.hidden = !message;
  }

  $("[data-continue]").addEventListener("click", function () {
    var p = order.payment || {};
    var snap = window.snap;
    note("");
    if (!p.token) return;
    if (!snap || typeof snap.pay !== "function") {
      note(t('The payment window could not be loaded. Use "Pay in a new page" instead.'));
      return;
    }
    var look = function () {
      poll();
    }; // what happened is read from the backend
    try {
      snap.pay(p.token, {
        language: document.documentElement.lang, // Snap speaks the page's language
        onSuccess: look,
        onPending: look,
        onError: look,
        onClose: function () {
          note(t("Payment not finished — you can continue any time before the deadline."));
          poll();
        },
      });
    } catch {
      note(t('The payment window could not open. Use "Pay in a new page" instead.'));
    }
  });

  // -- copy buttons ----------------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var field = $('[data-field="' + button.getAttribute("data-copy") + '"]');
    var value = field ? field.textContent.trim() : "";
    var label = button.querySelector("span");
    var done = function () {
      label.textContent = t("Copied");
      window.setTimeout(function () {
        label.textContent = t("Copy");
      }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(done, function () {
        select(field);
      });
    } else {
      select(field);
    }
  });

  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  render(order);
  window.setInterval(tick, 1000);
  if (!isFinal(order.status)) schedule(POLL_MS);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !isFinal(order.status)) poll();
  });
  root.setAttribute("data-live", "1");
})();
