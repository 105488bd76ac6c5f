/**
 * The simulated dispenser: no screen, no socket.
 *
 * The dispenser driver interface: `dispense(command) -> Promise<{ok, detail}>`, where command is
 * the DISPENSE values ({order_id, dispense_id, slot, product_id, name}). A driver must not drop
 * two items for one dispense_id; this simulated one remembers executed ids in localStorage.
 * A real machine sets window.bayarKiosk.dispenser to its own driver.
 */
const KEEP = 200; // dispense ids remembered

export class SimulatedDispenser {
  /** options: {machineId, mode: "ok" | "fail" | "silent" (never answers), durationMs} */
  constructor(options) {
    this.mode = options.mode || "ok";
    this.failNext = false;
    this.durationMs = options.durationMs || 1500;
    this.storageKey = "bayar.kiosk." + options.machineId + ".dispensed";
    this.inFlight = {};
    this.executed = []; // dispense_ids this page actually dispensed (not answered from memory)
  }

  memory() {
    try {
      return JSON.parse(window.localStorage.getItem(this.storageKey) || "{}") || {};
    } catch {
      return {};
    }
  }

  remember(id, record) {
    const mem = this.memory();
    mem[id] = record;
    const ids = Object.keys(mem).sort(function (a, b) {
      return (mem[a].at || 0) - (mem[b].at || 0);
    });
    while (ids.length > KEEP) delete mem[ids.shift()];
    try {
      window.localStorage.setItem(this.storageKey, JSON.stringify(mem));
    } catch {
      /* storage full or disabled: the in-memory map still prevents repeats on this page */
    }
  }

  dispense(command) {
    const id = String(command.dispense_id);
    if (this.inFlight[id]) return this.inFlight[id];
    const known = this.memory()[id];
    if (known?.done) {
      return Promise.resolve({ ok: known.ok, detail: known.detail, repeated: true });
    }
    if (known && !known.done) {
      // started before a reload and never finished: the motor may or may not have turned
      const detail = "interrupted: dispensing started before a restart, outcome unknown";
      this.remember(id, { done: true, ok: false, detail: detail, at: Date.now() });
      return Promise.resolve({ ok: false, detail: detail, repeated: true });
    }
    const fail = this.mode === "fail" || this.failNext;
    this.failNext = false;
    this.remember(id, { done: false, at: Date.now(), slot: command.slot });
    const promise = new Promise((resolve) => {
      if (this.mode === "silent") return; // never answers: the server's timeout refunds
      setTimeout(() => {
        this.executed.push(id);
        const slot = command.slot || "?";
        const result = fail
          ? { ok: false, detail: "simulated failure: slot " + slot + " jammed" }
          : { ok: true, detail: "simulated: dropped 1 from slot " + slot };
        this.remember(id, { done: true, ok: result.ok, detail: result.detail, at: Date.now() });
        delete this.inFlight[id];
        resolve(result);
      }, this.durationMs);
    });
    this.inFlight[id] = promise;
    return promise;
  }
}
