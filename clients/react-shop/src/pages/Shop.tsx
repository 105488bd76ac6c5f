// The shop's one page: the catalog with its stock, the cart, and the checkout form.
import { type FormEvent, useEffect, useState } from "react";
import {
  ApiError,
  bayarAsset,
  type ClientConfig,
  type Customer,
  getProducts,
  type Product,
} from "../api";
import type { Cart } from "../cart";
import { explain, type Problem } from "../errors";
import { rupiah, type Translate, useI18n } from "../i18n";
import { handlePayment } from "../payment";

// The same rules as bayar's own checkout (api/schemas.py): bayar checks them again.
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const PHONE = /^\+?[0-9]{8,15}$/;

type Field = keyof Customer;
type FieldErrors = Partial<Record<Field | "cart", string>>;

export function validate(customer: Customer, lines: number, t: Translate): FieldErrors {
  const errors: FieldErrors = {};
  if (!customer.first_name.trim()) errors.first_name = t("checkout.error.name");
  if (!EMAIL.test(customer.email.trim())) errors.email = t("checkout.error.email");
  if (!PHONE.test(customer.phone.replace(/[\s\-().]/g, "")))
    errors.phone = t("checkout.error.phone");
  if (lines === 0) errors.cart = t("checkout.error.cart");
  return errors;
}

function Catalog({ products, cart }: { products: Product[] | null; cart: Cart }) {
  const { t } = useI18n();
  if (products === null) return <p>{t("shop.loading")}</p>;
  if (products.length === 0) return <p>{t("catalog.empty")}</p>;
  return (
    <ul className="catalog" data-testid="catalog">
      {products.map((product) => {
        const inCart = cart.lines.find((line) => line.product.id === product.id)?.quantity ?? 0;
        const soldOut = product.stock <= 0;
        return (
          <li key={product.id} className="product" data-testid={`product-${product.id}`}>
            {product.image_url ? (
              <img src={bayarAsset(product.image_url)} alt="" loading="lazy" />
            ) : null}
            <h3>{product.name}</h3>
            <p className="price">{rupiah(product.price)}</p>
            <p className="stock" data-testid="stock">
              {soldOut ? t("catalog.soldOut") : t("catalog.stock", { n: product.stock })}
            </p>
            <button
              type="button"
              disabled={soldOut || inCart >= product.stock}
              onClick={() => cart.add(product)}
            >
              {t("catalog.add")}
            </button>
          </li>
        );
      })}
    </ul>
  );
}

function CartView({ cart }: { cart: Cart }) {
  const { t } = useI18n();
  if (cart.lines.length === 0) return <p data-testid="cart-empty">{t("cart.empty")}</p>;
  return (
    <table className="cart" data-testid="cart">
      <tbody>
        {cart.lines.map(({ product, quantity }) => (
          <tr key={product.id} data-testid={`line-${product.id}`}>
            <td>{product.name}</td>
            <td className="qty">
              <button
                type="button"
                aria-label={t("cart.less")}
                onClick={() => cart.change(product.id, -1)}
              >
                −
              </button>
              <span data-testid="quantity">{quantity}</span>
              <button
                type="button"
                aria-label={t("cart.more")}
                disabled={quantity >= product.stock}
                onClick={() => cart.change(product.id, 1)}
              >
                +
              </button>
            </td>
            <td className="amount">{rupiah(product.price * quantity)}</td>
            <td>
              <button type="button" className="link" onClick={() => cart.remove(product.id)}>
                {t("cart.remove")}
              </button>
            </td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th colSpan={2}>{t("cart.total")}</th>
          <th className="amount" data-testid="total">
            {rupiah(cart.total)}
          </th>
          <th />
        </tr>
      </tfoot>
    </table>
  );
}

interface CheckoutProps {
  config: ClientConfig;
  cart: Cart;
  onStale: () => void; // the catalog shown is out of date (stock gone): ask bayar again
}

function Checkout({ config, cart, onStale }: CheckoutProps) {
  const { t, language } = useI18n();
  const [customer, setCustomer] = useState<Customer>({ first_name: "", email: "", phone: "" });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);

  const field = (name: Field, label: string, type: string, autoComplete: string) => (
    <label className={errors[name] ? "invalid" : undefined}>
      <span className="label">{label}</span>
      <input
        name={name}
        type={type}
        autoComplete={autoComplete}
        value={customer[name]}
        aria-invalid={errors[name] ? true : undefined}
        onChange={(event) => setCustomer({ ...customer, [name]: event.target.value })}
      />
      {errors[name] ? (
        <small className="field-error" data-testid={`error-${name}`}>
          {errors[name]}
        </small>
      ) : null}
    </label>
  );

  async function submit(event: FormEvent) {
    event.preventDefault();
    const found = validate(customer, cart.lines.length, t);
    setErrors(found);
    setProblem(null);
    if (Object.keys(found).length > 0) return;
    setBusy(true);
    try {
      const trimmed = {
        first_name: customer.first_name.trim(),
        email: customer.email.trim(),
        phone: customer.phone.trim(),
      };
      await handlePayment(config, cart.lines, trimmed, language, () => cart.clear());
    } catch (error) {
      setProblem(explain(error, t));
      if (error instanceof ApiError && error.status === 409) onStale();
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="checkout" noValidate onSubmit={submit} data-testid="checkout">
      <h2>{t("checkout.title")}</h2>
      {field("first_name", t("checkout.name"), "text", "given-name")}
      {field("email", t("checkout.email"), "email", "email")}
      {field("phone", t("checkout.phone"), "tel", "tel")}
      {errors.cart ? <p className="field-error">{errors.cart}</p> : null}
      {problem ? (
        <div className="problem" role="alert" data-testid="problem">
          <p>{problem.message}</p>
          {problem.detail ? <small>{problem.detail}</small> : null}
        </div>
      ) : null}
      <button type="submit" className="primary" disabled={busy} data-testid="pay">
        {busy ? t("checkout.paying") : t("checkout.pay", { amount: rupiah(cart.total) })}
      </button>
    </form>
  );
}

export function Shop({ config, cart }: { config: ClientConfig; cart: Cart }) {
  const { t } = useI18n();
  const [products, setProducts] = useState<Product[] | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [round, setRound] = useState(0);
  const { refresh } = cart;

  useEffect(() => {
    void round; // asked again when the checkout found the stock gone
    let live = true;
    getProducts().then(
      (found) => {
        if (!live) return;
        setProducts(found);
        refresh(found);
      },
      (error: unknown) => live && setProblem(explain(error, t)),
    );
    return () => {
      live = false;
    };
  }, [refresh, t, round]);

  return (
    <div className="shop">
      <section>
        <h2>{t("catalog.title")}</h2>
        {problem ? (
          <p className="problem" role="alert">
            {problem.message}
          </p>
        ) : (
          <Catalog products={products} cart={cart} />
        )}
      </section>
      <aside>
        <h2>{t("cart.title")}</h2>
        <CartView cart={cart} />
        <Checkout config={config} cart={cart} onStale={() => setRound((n) => n + 1)} />
      </aside>
    </div>
  );
}
