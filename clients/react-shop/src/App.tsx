import { useEffect, useState } from "react";
import { type ClientConfig, getConfig } from "./api";
import { useCart } from "./cart";
import { explain, type Problem } from "./errors";
import { useI18n } from "./i18n";
import { OrderPage } from "./pages/OrderPage";
import { Shop } from "./pages/Shop";
import { lastOrder, orderPath } from "./payment";
import { navigate, useLocation } from "./router";
import { loadSnap } from "./snap";

const ORDER_PATH = /^\/orders\/([^/]+)$/;

/** Where a gateway's page sends the customer back to (Snap's finish URL, Xendit's success and
 * failure URLs): the order's own page. */
function Finish() {
  const { query } = useLocation();
  useEffect(() => {
    const orderId = query.get("order_id") ?? query.get("external_id") ?? lastOrder();
    navigate(orderId ? orderPath(orderId) : "/", { replace: true });
  }, [query]);
  return null;
}

export function App() {
  const { t, language, setLanguage } = useI18n();
  const { path } = useLocation();
  const cart = useCart();
  const [config, setConfig] = useState<ClientConfig | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);

  useEffect(() => {
    getConfig().then(
      (found) => {
        setConfig(found);
        // Loaded early, as the course's index.html does, so the popup opens at once.
        if (found.gateway === "midtrans") loadSnap(found).catch(() => undefined);
      },
      (error: unknown) => setProblem(explain(error, t)),
    );
  }, [t]);

  const order = ORDER_PATH.exec(path);
  let page = null;
  if (config && path === "/finish") page = <Finish />;
  else if (config && order?.[1])
    page = <OrderPage config={config} orderId={decodeURIComponent(order[1])} />;
  else if (config) page = <Shop config={config} cart={cart} />;

  return (
    <>
      <header>
        <h1>
          <a
            href="/"
            onClick={(event) => {
              event.preventDefault();
              navigate("/");
            }}
          >
            {t("shop.title")}
          </a>
        </h1>
        {config?.sandbox ? <span className="badge">{t("shop.sandbox")}</span> : null}
        <button
          type="button"
          className="language"
          data-testid="language"
          onClick={() => setLanguage(language === "id" ? "en" : "id")}
        >
          {t("lang.switch")}
        </button>
      </header>
      <main>
        {problem ? (
          <p className="problem" role="alert" data-testid="problem">
            {problem.message}
          </p>
        ) : null}
        {!config && !problem ? <p>{t("shop.loading")}</p> : null}
        {page}
      </main>
    </>
  );
}
