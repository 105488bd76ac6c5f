// The hosted invoice page: a countdown, and follow the invoice until it is paid or expired, then
// send the payer where the merchant asked (success_redirect_url / failure_redirect_url).
(function () {
  "use strict";
  var main = document.getElementById("invoice");
  if (!main) return;
  var scale = parseFloat(main.dataset.scale) || 1;
  var remaining = parseFloat(main.dataset.remaining) || 0;
  var started = Date.now();
  var countdown = main.querySelector(".countdown");
  var status = main.dataset.status;

  function format(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var mm = (m < 10 ? "0" : "") + m;
    var ss = (s < 10 ? "0" : "") + s;
    return h ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  function tick() {
    if (countdown) {
      countdown.textContent = format(remaining - ((Date.now() - started) / 1000) * scale);
    }
  }

  function poll() {
    fetch(main.dataset.statusUrl, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (data) {
        if (!data || data.status === status) return;
        if (data.redirect) {
          window.location.assign(data.redirect);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        /* the next poll tries again */
      });
  }

  tick();
  setInterval(tick, 1000);
  if (status === "PENDING") setInterval(poll, 1000);
})();
