/** What the kiosk page's modules share. */

/**
 * The page's public face, window.bayarKiosk, for tests, drills and a real machine's driver:
 * {state, dispenser, lastEvent, events, sent, connected, orderId, config}.
 * `bayarKiosk.dispenser.failNext = true` fails the next dispense only.
 */
export const kiosk = {
  state: "boot",
  dispenser: null,
  lastEvent: null,
  events: [],
  sent: [],
  connected: false,
  orderId: null, // the order on screen
  config: null,
};

export const state = {
  cfg: null, // config.js readConfig()
  screen: "boot", // the screen on display (a key of SCREENS)
  shownAt: Date.now(),
  menu: [],
  machine: null,
  haveState: false, // a STATE came since the page loaded
  clockOffset: null, // server time − local time, ms (from STATE.server_time)
  message: null, // the spec of the message screen on display
  flow: null, // the current purchase: {requestId, item, order, cancelRequested, dispense}
  oosReason: null, // why the page is out of service: {key, code}
};
