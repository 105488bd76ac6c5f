// Progressive extras for the sandbox simulator pages; everything works without them.
(function () {
  "use strict";

  // A message from the last action is shown once: drop it from the address bar.
  var url = new URL(window.location.href);
  if (url.searchParams.has("msg")) {
    url.searchParams.delete("msg");
    url.searchParams.delete("kind");
    window.history.replaceState(null, "", url.pathname + url.search + url.hash);
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function format(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600),
      m = Math.floor((seconds % 3600) / 60),
      s = seconds % 60;
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s);
  }

  // Expiry countdowns: the server gives the sandbox seconds left and the clock's speed.
  var loadedAt = Date.now();
  function tick() {
    var elapsed = (Date.now() - loadedAt) / 1000;
    document.querySelectorAll("[data-remaining]").forEach(function (el) {
      var left = parseFloat(el.dataset.remaining) - elapsed * parseFloat(el.dataset.scale || "1");
      el.textContent = left > 0 ? format(left) : "expiring…";
    });
  }
  setInterval(tick, 1000);

  // Live refresh of the region marked data-refresh, unless someone is typing in it.
  var live = document.getElementById("live");
  if (!live) {
    return;
  }
  var every = parseFloat(live.dataset.refresh || "0") * 1000;
  if (!every) {
    return;
  }
  function busy() {
    var active = document.activeElement;
    return (
      document.hidden ||
      (active && live.contains(active) && /INPUT|TEXTAREA|SELECT/.test(active.tagName))
    );
  }
  function refresh() {
    if (busy()) {
      return;
    }
    fetch(window.location.pathname, { headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (!fresh || busy()) {
          return;
        }
        var open = {};
        live.querySelectorAll("details[data-key][open]").forEach(function (d) {
          open[d.dataset.key] = true;
        });
        fresh.querySelectorAll("details[data-key]").forEach(function (d) {
          if (open[d.dataset.key]) {
            d.open = true;
          }
        });
        live.innerHTML = fresh.innerHTML;
        loadedAt = Date.now();
        tick();
      })
      .catch(function () {
        /* the sandbox may be restarting: try again next time */
      });
  }
  setInterval(refresh, every);
})();
