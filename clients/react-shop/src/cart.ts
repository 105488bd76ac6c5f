// The cart, kept in this browser (it survives a reload and the trip to the gateway's page).
import { useCallback, useEffect, useState } from "react";
import type { CartLine, Product } from "./api";

const STORAGE_KEY = "bayar-shop.cart";

function load(): CartLine[] {
  try {
    const saved: unknown = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? "[]");
    return Array.isArray(saved) ? (saved as CartLine[]) : [];
  } catch {
    return [];
  }
}

export interface Cart {
  lines: CartLine[];
  total: number;
  add: (product: Product) => void;
  change: (productId: string, delta: number) => void;
  remove: (productId: string) => void;
  clear: () => void;
  refresh: (products: Product[]) => void;
}

export function useCart(): Cart {
  const [lines, setLines] = useState<CartLine[]>(load);
  useEffect(() => window.localStorage.setItem(STORAGE_KEY, JSON.stringify(lines)), [lines]);

  const add = useCallback((product: Product) => {
    setLines((now) => {
      const found = now.find((line) => line.product.id === product.id);
      if (!found) return [...now, { product, quantity: 1 }];
      return now.map((line) =>
        line === found ? { ...line, quantity: Math.min(line.quantity + 1, product.stock) } : line,
      );
    });
  }, []);
  const change = useCallback((productId: string, delta: number) => {
    setLines((now) =>
      now
        .map((line) =>
          line.product.id === productId
            ? { ...line, quantity: Math.min(line.quantity + delta, line.product.stock) }
            : line,
        )
        .filter((line) => line.quantity > 0),
    );
  }, []);
  const remove = useCallback((productId: string) => {
    setLines((now) => now.filter((line) => line.product.id !== productId));
  }, []);
  const clear = useCallback(() => setLines([]), []);
  // The catalog as bayar knows it now: names, prices and stock of what the cart holds.
  const refresh = useCallback((products: Product[]) => {
    setLines((now) =>
      now.flatMap((line) => {
        const product = products.find((p) => p.id === line.product.id);
        return product ? [{ product, quantity: line.quantity }] : [];
      }),
    );
  }, []);
  const total = lines.reduce((sum, line) => sum + line.product.price * line.quantity, 0);
  return { lines, total, add, change, remove, clear, refresh };
}
