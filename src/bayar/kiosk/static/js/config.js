/**
 * The page's settings: from <body data-…> (machine, token, socket path, language) and the URL.
 *
 * URL options (besides ?token= and ?lang= which the server reads):
 *   ?idle=30,10     idle timeouts in seconds: on the menu, then on the final screens
 *                   (one number sets both). Default 30,10.
 *   ?dispenser=fail   the simulated dispenser always fails (drills the refund path)
 *   ?dispenser=silent the simulated dispenser never answers (drills the server's ack timeout)
 *   ?retry=15       the longest wait between two connection attempts, in seconds (default 15)
 *   ?offline=60     no connection for this many seconds: the out-of-service screen (default 60)
 */
import { normLang } from "./text.js";

export function readConfig(body, search) {
  const params = new URLSearchParams(search);
  const cfg = {
    machineId: body.dataset.machineId || "",
    token: body.dataset.token || params.get("token") || "",
    wsPath: body.dataset.wsPath || "/ws/kiosk/" + (body.dataset.machineId || ""),
    lang: normLang(body.dataset.lang || params.get("lang")),
    idleMenu: 30,
    idleFinal: 10,
    retryMax: (parseFloat(params.get("retry")) || 15) * 1000,
    offlineLimit: (parseFloat(params.get("offline")) || 60) * 1000,
    dispenser: "ok",
  };
  const idle = params.get("idle");
  if (idle) {
    const parts = idle.split(",").map(function (p) {
      return parseFloat(p);
    });
    if (parts[0] > 0) {
      cfg.idleMenu = parts[0];
      cfg.idleFinal = parts[0];
    }
    if (parts.length > 1 && parts[1] > 0) cfg.idleFinal = parts[1];
  }
  const mode = params.get("dispenser");
  if (mode === "fail" || mode === "silent") cfg.dispenser = mode;
  return cfg;
}
