/*
 * The Snap sandbox payment page: choose a method, charge, show what the method needs, poll the
 * status every second, and report the outcome: to snap.js with postMessage (embed=1 inside a
 * frame), or by showing it and returning to the merchant's finish URL (redirect mode).
 */
(function () {
  "use strict";

  var D = JSON.parse(document.getElementById("snap-data").textContent);
  var T = D.strings || {};
  var framed = !!D.embed && window.parent !== window;
  var parentOrigin = /^https?:\/\/[^/]+$/.test(D.parent_origin || "") ? D.parent_origin : "*";

  function $(id) {
    return document.getElementById(id);
  }
  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  function post(type, result) {
    if (!framed) return;
    var msg = { bayarSnap: 1, type: type, token: D.token || null };
    if (result) msg.result = result;
    try {
      window.parent.postMessage(msg, parentOrigin);
    } catch {
      /* parent gone */
    }
  }

  function onLeave(handler) {
    var close = $("close-btn");
    if (close) close.addEventListener("click", handler);
    each("[data-back-to-merchant]", function (b) {
      b.addEventListener("click", handler);
    });
    window.addEventListener("message", function (ev) {
      if (ev.source !== window.parent) return;
      if (parentOrigin !== "*" && ev.origin !== parentOrigin) return;
      var m = ev.data;
      if (m && m.bayarSnap === 1 && m.type === "close-request") handler();
    });
    document.addEventListener("keydown", function (ev) {
      if ((ev.key === "Escape" || ev.key === "Esc") && framed && D.display !== "embed") handler();
    });
  }

  // -- an error page (unknown, replaced or expired link): onError once, then close ----------------
  if (D.page === "error") {
    post("ready");
    post("result", D.result);
    onLeave(function () {
      post("close");
    });
    return;
  }

  // -- the Core API 3-D Secure page: hand the outcome to a framing page (MidtransNew3ds style) ----
  if (D.page === "three_ds") {
    if (D.result && window.parent !== window) {
      try {
        window.parent.postMessage(JSON.stringify(D.result), "*");
      } catch {
        /* no parent */
      }
    }
    return;
  }

  // -- the payment page ----------------------------------------------------------------------------
  var state = {
    result: null, // the latest Snap result of the session's transaction
    rendered: "", // what the pending view shows, to redraw only on change
    final: false,
    view: null,
    timer: null,
    expiry: null, // sandbox epoch ms
    clock: { now: D.now || Date.now() / 1000, at: Date.now(), scale: D.scale || 1 },
  };

  function show(name) {
    state.view = name;
    each("[data-view]", function (v) {
      v.hidden = v.getAttribute("data-view") !== name;
    });
    $("back-btn").hidden = !(name === "banks" || name === "card");
  }

  function notice(text) {
    var n = $("notice");
    n.textContent = text || "";
    n.hidden = !text;
  }

  function clockFrom(resp) {
    var now = parseFloat(resp.headers.get("X-Sandbox-Now"));
    var scale = parseFloat(resp.headers.get("X-Sandbox-Scale"));
    if (!Number.isNaN(now))
      state.clock = { now: now, at: Date.now(), scale: Number.isNaN(scale) ? 1 : scale };
  }

  function sandboxNowMs() {
    return state.clock.now * 1000 + (Date.now() - state.clock.at) * state.clock.scale;
  }

  function fail(message, status, data) {
    var e = new Error(message || T.error_generic);
    e.status = status || 0;
    e.data = data || {};
    return e;
  }

  function api(method, url, body) {
    var init = { method: method, cache: "no-store", credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(
      function (resp) {
        clockFrom(resp);
        return resp
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (!resp.ok) throw fail(data.error || data.status_message, resp.status, data);
            return data;
          });
      },
      function () {
        throw fail(T.error_generic);
      },
    );
  }

  function outcome(r) {
    var s = r?.transaction_status;
    if (!s) return null;
    var paid = s === "settlement" || s === "capture" || s === "refund" || s === "partial_refund";
    if (paid && (!r.fraud_status || r.fraud_status === "accept")) return "success";
    if (s === "deny" || s === "expire" || s === "cancel" || s === "failure") return "error";
    return "pending";
  }

  // -- countdown to expiry_time ("YYYY-MM-DD HH:MM:SS", GMT+7), in sandbox time ---------------
  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function clockText(seconds) {
    var h = Math.floor(seconds / 3600),
      m = Math.floor((seconds % 3600) / 60),
      s = seconds % 60;
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s);
  }
  function setExpiry(r) {
    var t = r?.expiry_time ? Date.parse(String(r.expiry_time).replace(" ", "T") + "+07:00") : NaN;
    state.expiry = Number.isNaN(t) ? null : t;
    tick();
  }
  function tick() {
    var box = $("countdown");
    if (!state.expiry || state.final) {
      box.hidden = true;
      return;
    }
    var left = Math.max(0, Math.floor((state.expiry - sandboxNowMs()) / 1000));
    box.hidden = false;
    $("countdown-value").textContent = left > 0 ? clockText(left) : T.expired_clock;
  }
  window.setInterval(tick, 500);

  // -- methods ------------------------------------------------------------------------------------
  var only = D.only || [];
  function visible(key) {
    var m = D.methods[key];
    if (!m) return false;
    if (!only.length) return true;
    return m.aliases.some(function (a) {
      return only.indexOf(a) >= 0;
    });
  }

  each("[data-method]", function (btn) {
    var key = btn.getAttribute("data-method");
    if (!visible(key)) btn.hidden = true;
    btn.addEventListener("click", function () {
      choose(key);
    });
  });
  var bankGroup = document.querySelector('[data-group="bank"]');
  if (bankGroup) {
    const anyBank = Array.prototype.some.call(
      document.querySelectorAll('[data-view="banks"] [data-method]'),
      function (b) {
        return !b.hidden;
      },
    );
    bankGroup.hidden = !anyBank;
    bankGroup.addEventListener("click", function () {
      notice("");
      show("banks");
    });
  }
  var anyMethod = Array.prototype.some.call(
    document.querySelectorAll('[data-view="choose"] .method'),
    function (b) {
      return !b.hidden;
    },
  );
  $("no-methods").hidden = anyMethod;

  function choose(key) {
    notice("");
    if (key === "credit_card") {
      show("card");
      $("card-number").focus();
      return;
    }
    var back = state.view;
    show("busy");
    api("POST", D.urls.charge, D.methods[key].choice).then(apply, function (err) {
      show(back || "choose");
      notice(err.message);
    });
  }

  function methodButton(key) {
    return document.querySelector('[data-method="' + key + '"]');
  }

  function showBlock(name) {
    each("[data-block]", function (b) {
      b.hidden = b.getAttribute("data-block") !== name;
    });
  }

  function actionUrl(r, name) {
    var actions = r.actions || [];
    for (let i = 0; i < actions.length; i++) if (actions[i].name === name) return actions[i].url;
    return "";
  }

  function renderPending(r) {
    setExpiry(r);
    var key = [
      r.transaction_id,
      r.transaction_status,
      r.fraud_status || "",
      r.redirect_url ? "3ds" : "",
    ].join("|");
    if (key === state.rendered) return;
    state.rendered = key;

    if (r.payment_type === "credit_card" && r.redirect_url && r.transaction_status === "pending") {
      $("otp-card").textContent = (T.card_masked || "") + " " + (r.masked_card || "");
      $("otp").value = "";
      show("otp");
      $("otp").focus();
      return;
    }

    var methodKey = r.payment_type;
    switch (r.payment_type) {
      case "qris":
      case "gopay":
        $("qr-image").src = actionUrl(r, "generate-qr-code");
        $("qr-string").textContent = r.qr_string || "";
        $("qr-hint").textContent = T[r.payment_type + "_hint"] || "";
        showBlock("qr");
        break;
      case "bank_transfer": {
        const va = r.va_numbers?.[0];
        const bank = va ? va.bank : "permata";
        $("va-number").textContent = va ? va.va_number : r.permata_va_number || "";
        $("va-bank").textContent = bank;
        methodKey = bank + "_va";
        showBlock("va");
        break;
      }
      case "echannel":
        $("biller-code").textContent = r.biller_code || "";
        $("bill-key").textContent = r.bill_key || "";
        showBlock("bill");
        break;
      case "cstore":
        $("payment-code").textContent = r.payment_code || "";
        $("store-name").textContent = r.store || "";
        methodKey = r.store || "indomaret";
        showBlock("code");
        break;
      default:
        showBlock("review");
    }
    var button = methodButton(methodKey);
    var name = button?.querySelector(".method-name");
    var logo = button?.querySelector(".logo");
    $("pending-title").textContent = name ? name.textContent : r.payment_type;
    $("pending-logo").className = logo ? logo.className : "logo";
    $("pending-logo").textContent = logo ? logo.textContent : "";
    $("pending-state").textContent = r.fraud_status === "challenge" ? T.under_review : T.waiting;
    $("simulate-box").hidden = r.payment_type === "credit_card";
    $("pending-back").hidden = !(framed || r.finish_redirect_url);
    show("pending");
  }

  function finish(kind, r) {
    if (state.final) return;
    state.final = true;
    state.result = r;
    window.clearTimeout(state.timer);
    tick();
    var s = r.transaction_status;
    $("done-icon").className = "done-icon " + (kind === "success" ? "ok" : "fail");
    if (kind === "success") {
      $("done-title").textContent = s === "refund" || s === "partial_refund" ? T.refund : T.success;
      $("done-sub").textContent = T.success_sub;
    } else {
      $("done-title").textContent = T[s] || T.failure;
      $("done-sub").textContent = r.status_message || "";
    }
    $("done-status").textContent = s || r.status_code || "";
    $("done-back").hidden = !(framed || r.finish_redirect_url);
    show("done");
    post("result", r);
    if (!framed && r.finish_redirect_url) {
      $("redirecting").hidden = false;
      window.setTimeout(function () {
        window.location.assign(r.finish_redirect_url);
      }, 2500);
    }
  }

  function apply(r) {
    if (state.final) return;
    var kind = outcome(r);
    if (!kind) return; // no method chosen yet
    state.result = r;
    if (kind === "pending") renderPending(r);
    else finish(kind, r);
  }

  function poll() {
    if (state.final) return;
    api("GET", D.urls.status)
      .then(apply, function (err) {
        if (err.status === 404 || err.status === 410) {
          finish("error", { status_code: String(err.status), status_message: err.message });
        }
      })
      .then(function () {
        if (!state.final) {
          window.clearTimeout(state.timer);
          state.timer = window.setTimeout(poll, 1000);
        }
      });
  }

  function leave() {
    var r = state.result;
    if (framed) {
      if (r && !state.final && outcome(r) === "pending") post("close", r);
      else post("close");
      return;
    }
    if (r?.finish_redirect_url) window.location.assign(r.finish_redirect_url);
  }

  // -- card: tokenize with the public client key, charge, then 3-D Secure ---------------------
  $("card-number").addEventListener("input", function () {
    var digits = this.value.replace(/\D/g, "").slice(0, 19);
    this.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  });
  $("card-expiry").addEventListener("input", function () {
    var digits = this.value.replace(/\D/g, "").slice(0, 4);
    this.value = digits.length > 2 ? digits.slice(0, 2) + "/" + digits.slice(2) : digits;
  });

  $("card-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    notice("");
    var expiry = $("card-expiry").value.replace(/\s/g, "").split("/");
    var params = new URLSearchParams({
      client_key: D.client_key,
      card_number: $("card-number").value.replace(/\D/g, ""),
      card_exp_month: expiry[0] || "",
      card_exp_year: expiry[1] || "",
      card_cvv: $("card-cvv").value.trim(),
    });
    show("busy");
    api("GET", D.urls.card_token + "?" + params.toString())
      .then(function (tok) {
        if (String(tok.status_code) !== "200" || !tok.token_id) {
          throw fail((tok.validation_messages || []).join(", ") || tok.status_message);
        }
        return api("POST", D.urls.charge, { payment_type: "credit_card", token_id: tok.token_id });
      })
      .then(apply, function (err) {
        var data = err.data || {};
        show("card");
        notice((data.validation_messages || []).join(", ") || err.message);
      });
  });

  $("otp-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    notice("");
    show("busy");
    api("POST", D.urls.three_ds, { otp: $("otp").value.trim() }).then(apply, function (err) {
      show("otp");
      notice(err.message);
    });
  });

  // -- sandbox: the customer pays --------------------------------------------------------------
  $("simulate-btn").addEventListener("click", function () {
    var btn = this;
    btn.disabled = true;
    notice("");
    fetch(D.urls.simulate, { method: "POST", cache: "no-store", credentials: "same-origin" })
      .then(function (resp) {
        return resp
          .json()
          .catch(function () {
            return {};
          })
          .then(function (data) {
            if (!resp.ok) throw fail(data.error, resp.status);
          });
      })
      .then(poll, function (err) {
        notice(err.message);
      })
      .then(function () {
        btn.disabled = false;
      });
  });

  each("[data-copy]", function (btn) {
    btn.addEventListener("click", function () {
      var text = $(btn.getAttribute("data-copy")).textContent;
      var copied = function () {
        btn.textContent = T.copied_label;
        window.setTimeout(function () {
          btn.textContent = T.copy_label;
        }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(copied, function () {
          /* not allowed */
        });
        return;
      }
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      try {
        if (document.execCommand("copy")) copied();
      } catch {
        /* not allowed */
      }
      document.body.removeChild(area);
    });
  });

  $("back-btn").addEventListener("click", function () {
    notice("");
    show("choose");
  });
  onLeave(leave);

  // -- start ------------------------------------------------------------------------------------
  post("ready");
  if (D.result) {
    apply(D.result);
  } else {
    show("choose");
    const wanted = D.selected;
    if (wanted === "bank_transfer" && bankGroup && !bankGroup.hidden) {
      show("banks");
    } else if (wanted) {
      Object.keys(D.methods).some(function (key) {
        if (visible(key) && D.methods[key].aliases.indexOf(wanted) >= 0) {
          choose(key);
          return true;
        }
        return false;
      });
    }
  }
  state.timer = window.setTimeout(poll, 1000);
})();
