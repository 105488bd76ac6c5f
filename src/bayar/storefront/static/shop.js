/*
 * Toko Minuman: the catalog, a cart kept in localStorage, and checkout through snap.js.
 *
 * Pay → POST /api/payments/create-transaction (one Idempotency-Key per checkout attempt, so a
 * double click or a retry after a lost answer never makes a second order) → snap.pay(token).
 * Every callback only opens /orders/{order_id}: that page asks the backend for the status.
 * Redirect mode (`?mode=redirect`, or when the payment window cannot open) sends the browser to
 * the payment's redirect_url; Snap brings it back to /orders/finish?order_id=….
 * With Xendit (BAYAR_GATEWAY=xendit) the answer carries an invoice_url instead of a token: the
 * browser goes there, and the invoice's success and failure URLs bring it back the same way.
 */
(function () {
  "use strict";

  var KEYS = {
    cart: "bayar.shop.cart",
    customer: "bayar.shop.customer",
    attempt: "bayar.shop.attempt",
    orders: "bayar.shop.orders",
  };
  var MAX_QUANTITY = 100; // the API's limit per line
  var params = new URLSearchParams(window.location.search);
  var redirectMode = params.get("mode") === "redirect";

  var $ = function (selector, root) {
    return (root || document).querySelector(selector);
  };
  var $$ = function (selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  };

  var data = JSON.parse($("#shop-data").textContent);
  // The words this script writes, in the page's language: the catalog's messages it uses,
  // embedded by the page (bayar.i18n); `{name}` is filled from `vars`.
  var WORDS = JSON.parse($("#i18n-words").textContent);
  var LANGUAGE = document.documentElement.lang;

  function t(message, vars) {
    var text = WORDS[message] || message;
    return vars
      ? text.replace(/\{(\w+)\}/g, function (m, name) {
          return vars[name] !== undefined ? String(vars[name]) : m;
        })
      : text;
  }

  /** The payment page in the shop's language (Snap's redirect mode reads it from the query). */
  function inLanguage(url) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "language=" + LANGUAGE;
  }
  var products = {}; // id → {id, name, price, stock, image_url}
  var order = []; // product ids in catalog order
  data.products.forEach(function (p) {
    products[p.id] = p;
    order.push(p.id);
  });
  var cart = readCart();
  var busy = false;

  // -- helpers ---------------------------------------------------------------------------------

  function rupiah(amount) {
    var digits = String(Math.round(Math.abs(amount)));
    return (amount < 0 ? "-" : "") + "Rp " + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }

  function load(key, fallback) {
    try {
      const raw = window.localStorage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch {
      return fallback;
    }
  }

  function save(key, value) {
    try {
      if (value === null || value === undefined) window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* private mode: the cart lives as long as the page */
    }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === false || value === null || value === undefined) return;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child)
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function icon(name) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("aria-hidden", "true");
    var use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#" + name);
    svg.appendChild(use);
    return svg;
  }

  function newKey() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map
      .call(bytes, function (b) {
        return (b + 0x100).toString(16).slice(1);
      })
      .join("");
    return (
      "shop-" +
      hex.slice(0, 8) +
      "-" +
      hex.slice(8, 12) +
      "-" +
      hex.slice(12, 16) +
      "-" +
      hex.slice(16, 20) +
      "-" +
      hex.slice(20)
    );
  }

  function orderUrl(orderId) {
    return "/orders/" + encodeURIComponent(orderId);
  }

  // -- the cart ----------------------------------------------------------------------------------

  function readCart() {
    var stored = load(KEYS.cart, {});
    var lines = {};
    if (stored && typeof stored === "object") {
      Object.keys(stored).forEach(function (id) {
        var qty = parseInt(stored[id], 10);
        if (qty > 0) lines[id] = qty;
      });
    }
    return lines;
  }

  function limitOf(id) {
    var p = products[id];
    return p ? Math.max(0, Math.min(p.stock, MAX_QUANTITY)) : 0;
  }

  /** Drops unknown products and quantities above the stock; true if anything changed. */
  function clampCart() {
    var changed = false;
    Object.keys(cart).forEach(function (id) {
      var limit = limitOf(id);
      if (cart[id] > limit) {
        changed = true;
        if (limit > 0) cart[id] = limit;
        else delete cart[id];
      }
    });
    return changed;
  }

  function setQuantity(id, qty) {
    var limit = limitOf(id);
    qty = Math.max(0, Math.min(limit, qty));
    if (qty > 0) cart[id] = qty;
    else delete cart[id];
    save(KEYS.cart, cart);
    render();
  }

  function cartItems() {
    return order
      .filter(function (id) {
        return cart[id] > 0;
      })
      .map(function (id) {
        return { product_id: id, quantity: cart[id] };
      });
  }

  function cartCount() {
    return Object.keys(cart).reduce(function (n, id) {
      return n + cart[id];
    }, 0);
  }

  function cartTotal() {
    return Object.keys(cart).reduce(function (sum, id) {
      return sum + (products[id] ? products[id].price * cart[id] : 0);
    }, 0);
  }

  // -- rendering ---------------------------------------------------------------------------------

  function stepper(id, qty, label) {
    var limit = limitOf(id);
    var minus = el("button", {
      type: "button",
      "data-dec": id,
      "aria-label": t("One less {name}", { name: label }),
      text: "−",
    });
    var plus = el("button", {
      type: "button",
      "data-inc": id,
      "aria-label": t("One more {name}", { name: label }),
      text: "+",
      disabled: qty >= limit,
    });
    var out = el("output", { "data-qty": id, "aria-live": "polite", text: String(qty) });
    return el(
      "div",
      { class: "qty", role: "group", "aria-label": t("Quantity of {name}", { name: label }) },
      [minus, out, plus],
    );
  }

  function renderCatalog() {
    $$(".product").forEach(function (card) {
      var id = card.getAttribute("data-product-id");
      var p = products[id];
      var stock = p ? p.stock : 0;
      var label = $(".product-stock", card);
      label.setAttribute("data-stock", String(stock));
      label.className = "product-stock" + (stock <= 0 ? " is-out" : stock <= 5 ? " is-low" : "");
      label.textContent =
        stock <= 0
          ? t("Sold out")
          : stock <= 5
            ? t("Only {n} left", { n: stock })
            : t("{n} in stock", { n: stock });
      card.classList.toggle("is-soldout", stock <= 0);
      if (p) $(".product-price", card).textContent = rupiah(p.price);

      var actions = $("[data-actions]", card);
      var qty = cart[id] || 0;
      actions.textContent = "";
      $("[data-stock-note]", card).hidden = !(qty > 0 && qty >= limitOf(id));
      if (qty > 0) {
        actions.appendChild(stepper(id, qty, p ? p.name : id));
      } else {
        actions.appendChild(
          stock <= 0
            ? el("button", {
                type: "button",
                class: "btn btn-add",
                "data-add": id,
                disabled: true,
                text: t("Sold out"),
              })
            : el(
                "button",
                {
                  type: "button",
                  class: "btn btn-add",
                  "data-add": id,
                  "aria-label": t("Add {name} to the cart", { name: p ? p.name : id }),
                },
                [icon("i-bag"), el("span", { text: t("Add") })],
              ),
        );
      }
    });
  }

  function renderCart() {
    var lines = $("[data-cart-lines]");
    var items = cartItems();
    lines.textContent = "";
    items.forEach(function (item) {
      var p = products[item.product_id];
      var thumb = p.image_url
        ? el("img", { src: p.image_url, alt: "", width: 48, height: 48 })
        : el("span", { class: "thumb" });
      var remove = el(
        "button",
        {
          type: "button",
          class: "icon-btn remove",
          "data-remove": p.id,
          "aria-label": t("Remove {name}", { name: p.name }),
        },
        [icon("i-trash")],
      );
      lines.appendChild(
        el("li", { class: "cart-line", "data-line": p.id }, [
          thumb,
          el("span", { class: "cart-line-name", text: p.name }),
          el("span", { class: "cart-line-sum", text: rupiah(p.price * item.quantity) }),
          el("div", { class: "cart-line-controls" }, [
            el("span", {
              class: "cart-line-unit",
              text: t("{price} each", { price: rupiah(p.price) }),
            }),
            el("span", { class: "cart-line-edit" }, [stepper(p.id, item.quantity, p.name), remove]),
          ]),
        ]),
      );
    });
    var empty = items.length === 0;
    $("[data-cart-empty]").hidden = !empty;
    $("[data-cart-summary]").hidden = empty;
    $("[data-checkout]").hidden = empty;
    $("[data-cart-total]").textContent = rupiah(cartTotal());
    var count = cartCount();
    var badge = $("[data-cart-count]");
    if (badge.textContent !== String(count)) {
      badge.classList.remove("bump");
      void badge.offsetWidth; // restart the animation
      if (count > 0) badge.classList.add("bump");
    }
    badge.textContent = String(count);
    badge.classList.toggle("is-zero", count === 0);
    if (!busy) $("[data-pay]").textContent = t("Pay {amount}", { amount: rupiah(cartTotal()) });
    $("[data-pay-note-text]").textContent = redirectMode
      ? t("You will pay on the secure payment page and come back here.")
      : t("You choose how to pay in the secure payment window.");
  }

  function renderRecent() {
    var recent = load(KEYS.orders, []);
    var box = $("[data-recent]");
    var list = $("[data-recent-list]");
    list.textContent = "";
    (Array.isArray(recent) ? recent : []).slice(0, 3).forEach(function (o) {
      if (!o || typeof o.order_id !== "string") return;
      list.appendChild(
        el("li", {}, [
          el("a", { href: orderUrl(o.order_id) }, [
            el("code", { text: o.order_id }),
            el("span", { text: rupiah(o.gross_amount || 0) }),
          ]),
        ]),
      );
    });
    box.hidden = list.children.length === 0;
  }

  function render() {
    renderCatalog();
    renderCart();
  }

  // -- notices -----------------------------------------------------------------------------------

  function notice(kind, lines, links) {
    var box = $("[data-notice]");
    box.textContent = "";
    box.className = "notice" + (kind ? " is-" + kind : "");
    lines.forEach(function (line) {
      box.appendChild(el("p", { text: line }));
    });
    if (links?.length) {
      box.appendChild(
        el(
          "p",
          { class: "notice-links" },
          links.map(function (link) {
            return el("a", { href: link.href, "data-link": link.name, text: link.text });
          }),
        ),
      );
    }
    box.hidden = false;
    openCart();
  }

  function clearNotice() {
    $("[data-notice]").hidden = true;
  }

  // -- cart drawer (narrow screens) ---------------------------------------------------------------

  var narrow = window.matchMedia("(max-width: 960px)");

  function openCart() {
    var aside = $("#cart");
    if (narrow.matches) {
      aside.classList.add("is-open");
      $(".cart-backdrop").hidden = false;
      $("[data-cart-toggle]").setAttribute("aria-expanded", "true");
    } else {
      aside.classList.remove("flash");
      void aside.offsetWidth;
      aside.classList.add("flash");
    }
  }

  function closeCart() {
    $("#cart").classList.remove("is-open");
    $(".cart-backdrop").hidden = true;
    $("[data-cart-toggle]").setAttribute("aria-expanded", "false");
  }

  // -- the checkout form -------------------------------------------------------------------------

  var form = $("[data-checkout]");
  var fields = { name: form.elements.name, email: form.elements.email, phone: form.elements.phone };

  (function restoreCustomer() {
    var saved = load(KEYS.customer, {});
    Object.keys(fields).forEach(function (name) {
      if (saved && typeof saved[name] === "string") fields[name].value = saved[name];
    });
  })();

  function cleanPhone(value) {
    return value.replace(/[\s\-().]/g, "");
  }

  function check(name) {
    var value = fields[name].value.trim();
    var problem = "";
    if (name === "name") {
      if (!value) problem = t("Please enter your name.");
      else if (value.length < 2) problem = t("Your name looks too short.");
    } else if (name === "email") {
      if (!value) problem = t("Please enter your email address.");
      else if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(value))
        problem = t("That email address does not look right.");
    } else if (name === "phone") {
      const phone = cleanPhone(value);
      if (!phone) problem = t("Please enter your phone number.");
      else if (!/^\+?[0-9]+$/.test(phone))
        problem = t("Use digits only, e.g. 0812 3456 7890 or +62 812 3456 7890.");
      // The same rule as the API (api/schemas.py PHONE_DIGITS): 8 to 15 digits.
      else if (phone.replace("+", "").length < 8)
        problem = t(
          "That number is too short: a phone number has at least 8 digits, e.g. 0812 3456 7890.",
        );
      else if (phone.replace("+", "").length > 15)
        problem = t("That number is too long: a phone number has at most 15 digits.");
    }
    var message = $('[data-error-for="' + name + '"]');
    message.textContent = problem;
    fields[name].setAttribute("aria-invalid", problem ? "true" : "false");
    if (problem) fields[name].setAttribute("aria-describedby", "err-" + name);
    message.id = "err-" + name;
    return !problem;
  }

  Object.keys(fields).forEach(function (name) {
    fields[name].addEventListener("blur", function () {
      if (fields[name].value.trim()) check(name);
    });
    fields[name].addEventListener("input", function () {
      if (fields[name].getAttribute("aria-invalid") === "true") check(name);
    });
  });

  function customer() {
    var name = fields.name.value.trim().replace(/\s+/g, " ");
    var space = name.indexOf(" ");
    return {
      first_name: space > 0 ? name.slice(0, space) : name,
      last_name: space > 0 ? name.slice(space + 1) : null,
      email: fields.email.value.trim(),
      phone: cleanPhone(fields.phone.value.trim()),
    };
  }

  function setBusy(on, label) {
    busy = on;
    var button = $("[data-pay]");
    button.disabled = on;
    button.classList.toggle("is-busy", on);
    button.setAttribute("aria-busy", on ? "true" : "false");
    button.textContent = on
      ? label || t("Preparing your payment…")
      : t("Pay {amount}", { amount: rupiah(cartTotal()) });
  }

  // -- paying --------------------------------------------------------------------------------------

  /** The attempt this cart and these details belong to: same content, same Idempotency-Key. */
  function attemptFor(items, who) {
    var fingerprint = JSON.stringify({ items: items, customer: who });
    var attempt = load(KEYS.attempt, null);
    if (!attempt || attempt.fingerprint !== fingerprint || typeof attempt.key !== "string") {
      attempt = { key: newKey(), fingerprint: fingerprint, order_id: null };
      save(KEYS.attempt, attempt);
    }
    return attempt;
  }

  function remember(tx) {
    var recent = load(KEYS.orders, []);
    if (!Array.isArray(recent)) recent = [];
    recent = recent.filter(function (o) {
      return o && o.order_id !== tx.order_id;
    });
    recent.unshift({ order_id: tx.order_id, gross_amount: tx.gross_amount, at: Date.now() });
    save(KEYS.orders, recent.slice(0, 10));
    renderRecent();
  }

  function hideLoading() {
    if (window.snap && typeof window.snap.hide === "function") {
      try {
        window.snap.hide();
      } catch {
        /* nothing shown */
      }
    }
  }

  function showLoading() {
    if (!redirectMode && window.snap && typeof window.snap.show === "function") {
      try {
        window.snap.show();
      } catch {
        /* the popup shows its own */
      }
    }
  }

  function createTransaction(items, who, attempt) {
    return window
      .fetch("/api/payments/create-transaction", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "Idempotency-Key": attempt.key,
        },
        body: JSON.stringify({
          items: items,
          customer: who,
          payment_type: "snap",
          finish_url: window.location.origin + "/orders/finish",
        }),
      })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            return { status: response.status, body: body };
          });
      });
  }

  function pay(retried) {
    var items = cartItems();
    if (!items.length || busy) return;
    var who = customer();
    var attempt = attemptFor(items, who);
    clearNotice();
    setBusy(true);
    showLoading();
    createTransaction(items, who, attempt).then(
      function (answer) {
        var tx = answer.body || {};
        if (answer.status === 200 || answer.status === 201 || answer.status === 202) {
          attempt.order_id = tx.order_id;
          save(KEYS.attempt, attempt);
          remember(tx);
          if (tx.status !== "pending") {
            // This attempt's order is already over (paid, or expired while the customer was away).
            if (tx.status === "failed" || tx.status === "expired" || tx.status === "cancelled") {
              save(KEYS.attempt, null);
              if (!retried) {
                setBusy(false);
                hideLoading();
                return pay(true);
              }
            }
            return go(tx.order_id);
          }
          // Xendit: its hosted invoice page, which brings the customer back to the order page.
          if (tx.payment?.invoice_url) return toInvoice(tx);
          if (!tx.payment?.token) return go(tx.order_id); // the order page waits for it
          if (redirectMode) return redirect(tx);
          return openPopup(tx);
        }
        hideLoading();
        setBusy(false);
        var detail = typeof tx.detail === "string" ? tx.detail : "";
        if (answer.status === 409) {
          const short = detail || t("someone was quicker");
          notice("error", [
            t("Not enough stock: {detail}.", { detail: short }),
            t("The cart now shows what is left."),
          ]);
          save(KEYS.attempt, null);
          refreshProducts(true);
        } else if (answer.status === 502) {
          save(KEYS.attempt, null);
          notice("error", [
            t("The payment gateway refused this payment. {detail}", { detail: detail }),
            t("Nothing was charged; please try again."),
          ]);
        } else if (answer.status === 422) {
          save(KEYS.attempt, null);
          const wrong = detail || t("please check your cart and details");
          notice("error", [t("This order cannot be placed: {detail}.", { detail: wrong })]);
          refreshProducts(true);
        } else {
          notice("error", [
            t("The shop could not prepare your payment ({status}). Press Pay to try again.", {
              status: answer.status,
            }),
          ]);
        }
      },
      function () {
        // No answer: the order may or may not exist. The same attempt (same key) is safe to retry.
        hideLoading();
        setBusy(false);
        notice("error", [
          t(
            "We could not reach the shop. Check your connection and press Pay again: you will not be charged twice.",
          ),
        ]);
      },
    );
  }

  function go(orderId) {
    window.location.assign(orderUrl(orderId));
  }

  function redirect(tx) {
    if (tx.payment.redirect_url) {
      setBusy(true, t("Opening the payment page…"));
      window.location.assign(inLanguage(tx.payment.redirect_url));
    } else {
      go(tx.order_id);
    }
  }

  function toInvoice(tx) {
    setBusy(true, "Opening the payment page…");
    window.location.href = tx.payment.invoice_url;
  }

  function offerRedirect(tx, why) {
    hideLoading();
    setBusy(false);
    var links = [];
    if (tx.payment.redirect_url)
      links.push({
        name: "redirect",
        href: inLanguage(tx.payment.redirect_url),
        text: t("Pay in a new page"),
      });
    links.push({
      name: "order",
      href: orderUrl(tx.order_id),
      text: t("Order {order}", { order: tx.order_id }),
    });
    notice("warn", [why, t("Your order is saved: pay on the payment page instead.")], links);
  }

  function openPopup(tx) {
    var snap = window.snap;
    if (!snap || typeof snap.pay !== "function") {
      return offerRedirect(
        tx,
        t(
          "The payment window could not be loaded (it may be blocked by the browser or an extension).",
        ),
      );
    }
    setBusy(true, t("Waiting for the payment…"));
    var leave = function () {
      go(tx.order_id);
    }; // the order page asks the backend
    try {
      snap.pay(tx.payment.token, {
        language: LANGUAGE, // Snap speaks the shop's language
        onSuccess: leave,
        onPending: leave,
        onError: leave,
        onClose: function () {
          setBusy(false);
          var links = [
            {
              name: "order",
              href: orderUrl(tx.order_id),
              text: t("Open order {order}", { order: tx.order_id }),
            },
          ];
          if (tx.payment.redirect_url)
            links.push({
              name: "redirect",
              href: inLanguage(tx.payment.redirect_url),
              text: t("Pay in a new page"),
            });
          notice(
            "",
            [
              t("Payment not finished — you can pay later from the order page."),
              t("Press Pay again to reopen the payment window."),
            ],
            links,
          );
        },
      });
    } catch {
      offerRedirect(tx, t("The payment window could not open."));
    }
  }

  // -- stock from the API --------------------------------------------------------------------------

  function refreshProducts(quiet) {
    return window
      .fetch("/api/products", { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) {
        return r.ok ? r.json() : Promise.reject(r.status);
      })
      .then(function (list) {
        if (!Array.isArray(list)) return;
        list.forEach(function (p) {
          if (products[p.id]) {
            products[p.id].stock = p.stock;
            products[p.id].price = p.price;
          }
        });
        var seen = {};
        list.forEach(function (p) {
          seen[p.id] = true;
        });
        Object.keys(products).forEach(function (id) {
          if (!seen[id]) products[id].stock = 0;
        });
        if (clampCart()) {
          save(KEYS.cart, cart);
          if (!quiet)
            notice("warn", [t("Some drinks sold out in the meantime: your cart was updated.")]);
        }
        render();
      })
      .catch(function () {
        /* the page keeps the stock it was rendered with */
      });
  }

  // -- events ----------------------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var target = event.target.closest("button, [data-cart-close]");
    if (!target) return;
    var add = target.getAttribute("data-add");
    var inc = target.getAttribute("data-inc");
    var dec = target.getAttribute("data-dec");
    var remove = target.getAttribute("data-remove");
    if (add) {
      setQuantity(add, (cart[add] || 0) + 1);
      clearNotice();
    } else if (inc) {
      setQuantity(inc, (cart[inc] || 0) + 1);
    } else if (dec) {
      setQuantity(dec, (cart[dec] || 0) - 1);
    } else if (remove) {
      setQuantity(remove, 0);
    } else if (target.hasAttribute("data-cart-toggle")) {
      if ($("#cart").classList.contains("is-open")) closeCart();
      else {
        openCart();
        $("#cart").focus();
      }
    } else if (target.hasAttribute("data-cart-close")) {
      closeCart();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && $("#cart").classList.contains("is-open")) closeCart();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var ok = ["name", "email", "phone"].map(check).every(Boolean);
    if (!ok) {
      const first = ["name", "email", "phone"].filter(function (n) {
        return fields[n].getAttribute("aria-invalid") === "true";
      })[0];
      if (first) fields[first].focus();
      return;
    }
    save(KEYS.customer, {
      name: fields.name.value.trim(),
      email: fields.email.value.trim(),
      phone: fields.phone.value.trim(),
    });
    pay(false);
  });

  window.addEventListener("storage", function (event) {
    if (event.key === KEYS.cart) {
      cart = readCart();
      clampCart();
      render();
    }
    if (event.key === KEYS.orders) renderRecent();
  });

  // Coming back with the browser's back button: the page may come from the bfcache.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      setBusy(false);
      cart = readCart();
      refreshProducts();
      renderRecent();
    }
  });

  if (clampCart()) save(KEYS.cart, cart);
  render();
  renderRecent();
  refreshProducts();
  document.documentElement.setAttribute("data-shop-ready", "1");
})();
