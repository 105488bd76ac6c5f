// The order as bayar knows it: success, pending (with how to pay), declined, failed, expired or
// cancelled. It asks bayar again every few seconds until the status can no longer change.
import { useEffect, useState } from "react";
import {
  ApiError,
  bayarAsset,
  type ClientConfig,
  getOrder,
  type Order,
  type Payment,
  SETTLED_STATUSES,
} from "../api";
import { explain, type Problem } from "../errors";
import { type MessageKey, rupiah, useI18n, wib } from "../i18n";
import { openSnap } from "../payment";
import { navigate } from "../router";

const POLL_MS = 1500;

type View =
  | "paid"
  | "pending"
  | "review"
  | "declined"
  | "failed"
  | "expired"
  | "cancelled"
  | "refunded";

export function viewOf(order: Order): View {
  switch (order.status) {
    case "paid":
    case "fulfilled":
      return "paid";
    case "pending":
      return order.declined_attempt ? "declined" : "pending";
    case "review":
      return "review";
    case "failed":
      return "failed";
    case "expired":
      return "expired";
    case "cancelled":
      return "cancelled";
    default:
      return "refunded"; // refunded, partially_refunded
  }
}

function Instructions({ payment }: { payment: Payment }) {
  const { t } = useI18n();
  if (payment.va_number) {
    return (
      <div className="instructions" data-testid="va">
        <p>{t("pay.va", { bank: (payment.bank ?? "").toUpperCase() })}</p>
        <p className="code" data-testid="va-number">
          {payment.va_number}
        </p>
      </div>
    );
  }
  if (payment.bill_key) {
    return (
      <div className="instructions" data-testid="bill-key">
        <p>{t("pay.billKey", { biller: payment.biller_code ?? "" })}</p>
        <p className="code">{payment.bill_key}</p>
      </div>
    );
  }
  if (payment.payment_code) {
    return (
      <div className="instructions" data-testid="payment-code">
        <p>{t("pay.code", { store: (payment.store ?? "").toUpperCase() })}</p>
        <p className="code">{payment.payment_code}</p>
      </div>
    );
  }
  if (payment.qr_url) {
    return (
      <div className="instructions" data-testid="qris">
        <p>{t("pay.qris")}</p>
        <img src={bayarAsset(payment.qr_url)} alt="QRIS" width={240} height={240} />
      </div>
    );
  }
  return null;
}

export function OrderPage({ config, orderId }: { config: ClientConfig; orderId: string }) {
  const { t, language } = useI18n();
  const [order, setOrder] = useState<Order | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => {
    let timer: number | undefined;
    let live = true;
    const ask = async () => {
      try {
        const found = await getOrder(orderId);
        if (!live) return;
        setOrder(found);
        setProblem(null);
        if (SETTLED_STATUSES.has(found.status)) return;
      } catch (error) {
        if (!live) return;
        setProblem(explain(error, t));
        if (error instanceof ApiError && error.status === 404) return; // it will not appear
      }
      timer = window.setTimeout(ask, POLL_MS);
    };
    void ask();
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [orderId, t]);

  if (!order) {
    return (
      <section className="order">
        {problem ? (
          <p className="problem" role="alert" data-testid="problem">
            {problem.message}
          </p>
        ) : (
          <p>{t("shop.loading")}</p>
        )}
        <button type="button" onClick={() => navigate("/")}>
          {t("order.back")}
        </button>
      </section>
    );
  }

  const view = viewOf(order);
  const token = order.payment?.token;
  const settled = SETTLED_STATUSES.has(order.status);
  const payAgain = () => {
    if (token) void openSnap(config, order.order_id, token, language);
  };

  return (
    <section
      className={`order order-${view}`}
      data-testid="order"
      data-status={order.status}
      data-view={view}
    >
      <p className="muted">{t("order.id", { id: order.order_id })}</p>
      <h2 data-testid="title">{t(`status.${view}.title` as MessageKey)}</h2>
      <p data-testid="message">{t(`status.${view}.message` as MessageKey)}</p>
      {problem ? (
        <p className="problem" role="alert">
          {problem.message}
        </p>
      ) : null}
      {view === "pending" && order.payment ? <Instructions payment={order.payment} /> : null}
      {view === "pending" || view === "review" ? (
        <p className="muted">{t("order.expires", { time: wib(order.expiry_time, language) })}</p>
      ) : null}
      {(view === "pending" || view === "declined") && token ? (
        <button type="button" className="primary" data-testid="pay-again" onClick={payAgain}>
          {view === "declined" ? t("order.tryAgain") : t("order.payNow")}
        </button>
      ) : null}
      {view === "failed" || view === "expired" || view === "cancelled" ? (
        <button
          type="button"
          className="primary"
          data-testid="order-again"
          onClick={() => navigate("/")}
        >
          {t("order.orderAgain")}
        </button>
      ) : null}
      <h3>{t("order.items")}</h3>
      <table className="cart">
        <tbody>
          {order.items.map((item) => (
            <tr key={item.product_id}>
              <td>{item.name}</td>
              <td className="qty">× {item.quantity}</td>
              <td className="amount">{rupiah(item.price * item.quantity)}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th colSpan={2}>{t("cart.total")}</th>
            <th className="amount" data-testid="order-total">
              {rupiah(order.gross_amount)}
            </th>
          </tr>
        </tfoot>
      </table>
      {settled ? null : <p className="muted small">{t("order.live")}</p>}
      {view === "paid" ? (
        <button type="button" onClick={() => navigate("/")}>
          {t("order.back")}
        </button>
      ) : null}
    </section>
  );
}
