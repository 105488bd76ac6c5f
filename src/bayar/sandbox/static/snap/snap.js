/*
 * snap.js of bayar's offline Midtrans sandbox (reference 3.10).
 *
 *   <script src="http://host/sandbox/midtrans/snap/snap.js" data-client-key="SB-Mid-client-..."></script>
 *   snap.pay(token, {onSuccess, onPending, onError, onClose, language, autoCloseDelay,
 *                    enabledPayments, selectedPaymentType});
 *   snap.embed(token, {embedId: 'snap-container', ...the same options});
 *   snap.show(); snap.hide();   // the loading screen, while the merchant fetches a token
 *
 * The payment page runs in an iframe served by the sandbox and reports with postMessage; only
 * messages from that iframe and the sandbox's origin are read. Each pay()/embed() call ends in
 * exactly one callback: onSuccess (status_code 200), onPending (201), onError (others) or onClose.
 */
(function () {
  "use strict";

  if (window.snap?.__bayarSandbox) return;

  var script = document.currentScript;
  if (!script) {
    const tags = document.getElementsByTagName("script");
    for (let i = tags.length - 1; i >= 0; i--) {
      if (/\/snap\/snap\.js(?:[?#]|$)/.test(tags[i].src)) {
        script = tags[i];
        break;
      }
    }
  }
  var src = script ? script.src : "";
  var base = src.replace(/\/snap\/snap\.js(?:[?#].*)?$/, "");
  var sandboxOrigin = "";
  try {
    sandboxOrigin = new URL(base, window.location.href).origin;
  } catch {
    /* no src */
  }
  var clientKey = script ? script.getAttribute("data-client-key") : null;
  if (!clientKey && window.console) {
    window.console.warn("snap.js: the <script> tag has no data-client-key attribute");
  }

  var P = "bayar-snap";
  var STYLE =
    "." +
    P +
    "-overlay{position:fixed;top:0;right:0;bottom:0;left:0;z-index:2147483000;" +
    "background:rgba(15,23,42,.62);display:flex;align-items:center;justify-content:center;" +
    "padding:24px;box-sizing:border-box;opacity:0;transition:opacity .15s ease}" +
    "." +
    P +
    "-overlay." +
    P +
    "-in{opacity:1}" +
    "." +
    P +
    "-frame{position:relative;width:100%;max-width:440px;height:100%;max-height:740px;" +
    "border:0;border-radius:16px;background:#fff;box-shadow:0 24px 64px rgba(0,0,0,.35);" +
    "display:block;visibility:hidden}" +
    "." +
    P +
    "-frame." +
    P +
    "-ready{visibility:visible}" +
    "." +
    P +
    "-embedded{display:block;width:100%;height:100%;min-width:320px;min-height:560px;border:0}" +
    "." +
    P +
    "-spinner{position:absolute;top:50%;left:50%;width:38px;height:38px;margin:-19px 0 0 -19px;" +
    "box-sizing:border-box;border-radius:50%;border:4px solid rgba(255,255,255,.3);" +
    "border-top-color:#fff;animation:" +
    P +
    "-spin .8s linear infinite}" +
    "@keyframes " +
    P +
    "-spin{to{transform:rotate(360deg)}}" +
    "@media (max-width:520px){." +
    P +
    "-overlay{padding:0}" +
    "." +
    P +
    "-frame{max-width:none;max-height:none;border-radius:0}}" +
    "html." +
    P +
    "-lock,html." +
    P +
    "-lock body{overflow:hidden!important}";

  var active = null; // the payment in view (one per pay()/embed() call)
  var loading = null; // snap.show()'s overlay, reused by the next pay()

  function injectStyle() {
    if (document.getElementById(P + "-style")) return;
    var style = document.createElement("style");
    style.id = P + "-style";
    style.textContent = STYLE;
    (document.head || document.documentElement).appendChild(style);
  }

  function lockScroll(on) {
    var cls = document.documentElement.classList;
    if (on) cls.add(P + "-lock");
    else cls.remove(P + "-lock");
  }

  function makeOverlay() {
    injectStyle();
    var overlay = document.createElement("div");
    overlay.className = P + "-overlay";
    var spinner = document.createElement("div");
    spinner.className = P + "-spinner";
    spinner.setAttribute("role", "progressbar");
    spinner.setAttribute("aria-label", "Loading");
    overlay.appendChild(spinner);
    document.body.appendChild(overlay);
    // next frame: fade in
    window.setTimeout(function () {
      overlay.classList.add(P + "-in");
    }, 0);
    lockScroll(true);
    return overlay;
  }

  function removeOverlay(overlay) {
    if (overlay?.parentNode) overlay.parentNode.removeChild(overlay);
    if (!document.querySelector("." + P + "-overlay")) lockScroll(false);
  }

  function pageUrl(token, options, display) {
    var q = ["embed=1", "display=" + display];
    if (window.location.origin && window.location.origin !== "null") {
      q.push("origin=" + encodeURIComponent(window.location.origin));
    }
    if (clientKey) q.push("client_key=" + encodeURIComponent(clientKey));
    if (options.language) q.push("language=" + encodeURIComponent(String(options.language)));
    if (options.enabledPayments?.length) {
      q.push("enabled=" + encodeURIComponent([].concat(options.enabledPayments).join(",")));
    }
    if (options.selectedPaymentType) {
      q.push("selected=" + encodeURIComponent(String(options.selectedPaymentType)));
    }
    return base + "/snap/v2/vtweb/" + encodeURIComponent(token) + "?" + q.join("&");
  }

  function makeFrame(url, className) {
    var frame = document.createElement("iframe");
    frame.id = "snap-midtrans";
    frame.name = "snap-midtrans";
    frame.title = "Snap payment";
    frame.className = className;
    frame.setAttribute("allow", "clipboard-write");
    frame.src = url;
    return frame;
  }

  function kindOf(result) {
    var code = result && String(result.status_code);
    if (code === "200") return "success";
    if (code === "201") return "pending";
    return "error";
  }

  function call(fn, arg) {
    try {
      fn(arg);
    } catch (e) {
      window.setTimeout(function () {
        throw e;
      }, 0); // the merchant's error, reported, not swallowed
    }
  }

  function deliver(session, result) {
    if (session.done) return;
    session.done = true;
    var kind = kindOf(result);
    var name = kind === "success" ? "onSuccess" : kind === "pending" ? "onPending" : "onError";
    var fn = session.options[name];
    if (typeof fn === "function") call(fn, result);
    else if (result?.finish_redirect_url) window.location.assign(result.finish_redirect_url);
  }

  function teardown(session) {
    if (session.closed) return;
    session.closed = true;
    window.clearTimeout(session.autoClose);
    window.clearTimeout(session.closeWait);
    if (session.mode === "popup") removeOverlay(session.overlay);
    else if (session.frame.parentNode) session.frame.parentNode.removeChild(session.frame);
    if (active === session) active = null;
  }

  function closed(session, result) {
    teardown(session);
    if (session.done) return;
    if (result?.transaction_status) {
      deliver(session, result);
    } else {
      session.done = true;
      if (typeof session.options.onClose === "function") call(session.options.onClose);
    }
  }

  function reveal(session) {
    session.frame.classList.add(P + "-ready");
    var spinner = session.overlay?.querySelector("." + P + "-spinner");
    if (spinner) spinner.parentNode.removeChild(spinner);
  }

  function autoCloseMs(options) {
    var delay = options.autoCloseDelay;
    if (delay === undefined || delay === null || Number.isNaN(Number(delay))) return 2000;
    return Number(delay) * 1000; // seconds, as Midtrans' option; 0 keeps the popup open
  }

  function requestClose(session) {
    // The page knows whether a payment is pending; ask it, and close anyway if it does not answer.
    try {
      session.frame.contentWindow.postMessage(
        { bayarSnap: 1, type: "close-request" },
        sandboxOrigin,
      );
    } catch {
      /* frame gone */
    }
    window.clearTimeout(session.closeWait);
    session.closeWait = window.setTimeout(function () {
      closed(session, null);
    }, 1000);
  }

  window.addEventListener("message", function (event) {
    var session = active;
    if (!session || session.closed || event.origin !== sandboxOrigin) return;
    if (event.source !== session.frame.contentWindow) return;
    var msg = event.data;
    if (!msg || typeof msg !== "object" || msg.bayarSnap !== 1) return;
    if (msg.type === "ready") {
      reveal(session);
    } else if (msg.type === "result" && msg.result) {
      reveal(session);
      const kind = kindOf(msg.result);
      if (kind === "pending") return; // pending is reported when the customer leaves the page
      deliver(session, msg.result);
      const delay = autoCloseMs(session.options);
      if (session.mode === "popup" && kind === "success" && delay > 0) {
        session.autoClose = window.setTimeout(function () {
          teardown(session);
        }, delay);
      }
    } else if (msg.type === "close") {
      closed(session, msg.result || null);
    }
  });

  document.addEventListener("keydown", function (event) {
    if ((event.key === "Escape" || event.key === "Esc") && active && active.mode === "popup") {
      requestClose(active);
    }
  });

  function start(token, options, mode) {
    if (typeof token !== "string" || !token) {
      throw new Error(
        "snap." + (mode === "popup" ? "pay" : "embed") + ": a Snap token is required",
      );
    }
    if (active && !active.done) {
      throw new Error(
        "snap.pay is not allowed to be called in this state: a payment is already in view",
      );
    }
    if (active) teardown(active);
    return { token: token, options: options || {}, mode: mode, done: false, closed: false };
  }

  function pay(token, options) {
    var session = start(token, options, "popup");
    session.overlay = loading || makeOverlay();
    loading = null;
    session.frame = makeFrame(pageUrl(token, session.options, "popup"), P + "-frame");
    session.frame.addEventListener("load", function () {
      reveal(session);
    });
    session.overlay.appendChild(session.frame);
    active = session;
  }

  function embed(token, options) {
    options = options || {};
    var host = options.embedId ? document.getElementById(options.embedId) : null;
    if (!host) throw new Error('snap.embed: no element with id "' + options.embedId + '"');
    var session = start(token, options, "embed");
    injectStyle();
    session.frame = makeFrame(pageUrl(token, session.options, "embed"), P + "-embedded");
    while (host.firstChild) host.removeChild(host.firstChild);
    host.appendChild(session.frame);
    active = session;
  }

  function show() {
    if (loading || (active && !active.closed)) return;
    loading = makeOverlay();
  }

  function hide() {
    if (!loading) return;
    removeOverlay(loading);
    loading = null;
  }

  window.snap = {
    pay: pay,
    embed: embed,
    show: show,
    hide: hide,
    __bayarSandbox: true,
  };
})();
