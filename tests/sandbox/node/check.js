// The official npm `midtrans-client`, unchanged, against the bayar sandbox: a QRIS charge, its status,
// its refund once settled, a subscription created and read back, a GoPay account linked and approved.
// Prints one JSON object of what the client returned; tests/sandbox/test_node_client.py asserts on it.
//
//   SANDBOX_URL=http://127.0.0.1:8000/sandbox SERVER_KEY=SB-Mid-server-… CLIENT_KEY=SB-Mid-client-… node check.js
"use strict";

const midtransClient = require("midtrans-client");
const ApiConfig = require("midtrans-client/lib/apiConfig");

const root = process.env.SANDBOX_URL;
// The client has no base URL option: its static URLs are the documented way to point it elsewhere.
ApiConfig.CORE_SANDBOX_BASE_URL = `${root}/midtrans`;
ApiConfig.SNAP_SANDBOX_BASE_URL = `${root}/midtrans/snap/v1`;

const core = new midtransClient.CoreApi({
  isProduction: false,
  serverKey: process.env.SERVER_KEY,
  clientKey: process.env.CLIENT_KEY,
});

async function control(path) {
  // The sandbox's control API: the customer pays the QR.
  const res = await fetch(`${root}/_control/${path}`, { method: "POST" });
  if (!res.ok) throw new Error(`control ${path}: HTTP ${res.status}`);
}

async function main() {
  const out = {};
  const orderId = `node-midtransclient-test-${Date.now()}`;

  out.charge = await core.charge({
    payment_type: "qris",
    transaction_details: { order_id: orderId, gross_amount: 12000 },
  });
  out.status = await core.transaction.status(orderId);
  await control(`midtrans/${orderId}/pay`);
  out.settled = await core.transaction.status(orderId);
  out.refund = await core.transaction.refund(orderId, {
    refund_key: `${orderId}-refund`,
    amount: 12000,
    reason: "node client check",
  });

  const created = await core.createSubscription({
    name: "MONTHLY_2026",
    amount: "14000",
    currency: "IDR",
    payment_type: "credit_card",
    token: "481111DasKBLCCXbuKfEbVlFiBZr1114",
    schedule: { interval: 1, interval_unit: "month", max_interval: 12 },
    metadata: { description: "Recurring payment for A" },
  });
  out.subscription = created;
  out.subscription_get = await core.getSubscription(created.id);
  try {
    await core.getSubscription("dummy");
    out.subscription_missing = null;
  } catch (e) {
    out.subscription_missing = { httpStatusCode: e.httpStatusCode, message: e.message };
  }

  const linked = await core.linkPaymentAccount({
    payment_type: "gopay",
    gopay_partner: {
      phone_number: "81212345678",
      country_code: "62",
      redirect_url: "https://merchant.example/linked",
    },
  });
  out.link = linked;
  out.link_get = await core.getPaymentAccount(linked.account_id);
  const page = linked.actions.find((a) => a.name === "activation-link-url").url;
  const approved = await fetch(page, { method: "POST", redirect: "manual" });
  out.approve_status = approved.status;
  out.linked_get = await core.getPaymentAccount(linked.account_id);
  return out;
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out));
  },
  (err) => {
    process.stderr.write(`${err?.stack ? err.stack : err}\n`);
    if (err?.ApiResponse) process.stderr.write(`${JSON.stringify(err.ApiResponse)}\n`);
    process.exit(1);
  },
);
