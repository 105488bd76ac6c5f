// Indonesian first (the default), English on request; the choice is kept in this browser.
import { createContext, type ReactNode, useCallback, useContext, useMemo, useState } from "react";

export type Language = "id" | "en";

const id = {
  "shop.title": "Toko Minuman",
  "shop.sandbox": "Mode sandbox: tidak ada uang sungguhan",
  "shop.loading": "Memuat…",
  "lang.switch": "English",
  "catalog.title": "Produk",
  "catalog.stock": "Stok: {n}",
  "catalog.soldOut": "Habis",
  "catalog.add": "Tambah",
  "catalog.empty": "Belum ada produk.",
  "cart.title": "Keranjang",
  "cart.empty": "Keranjang masih kosong.",
  "cart.total": "Total",
  "cart.remove": "Hapus",
  "cart.more": "Tambah satu",
  "cart.less": "Kurangi satu",
  "checkout.title": "Data pembeli",
  "checkout.name": "Nama",
  "checkout.email": "Email",
  "checkout.phone": "Nomor HP",
  "checkout.pay": "Bayar {amount}",
  "checkout.paying": "Memproses…",
  "checkout.error.name": "Isi nama Anda.",
  "checkout.error.email": "Tulis email yang benar, mis. nama@contoh.com.",
  "checkout.error.phone": "Nomor HP 8–15 angka, mis. 0812 3456 7890.",
  "checkout.error.cart": "Keranjang masih kosong.",
  "order.id": "Pesanan {id}",
  "order.back": "Kembali ke toko",
  "order.payNow": "Bayar sekarang",
  "order.tryAgain": "Coba kartu atau metode lain",
  "order.orderAgain": "Pesan lagi",
  "order.live": "Halaman ini diperbarui otomatis.",
  "order.expires": "Bayar sebelum {time}",
  "order.items": "Rincian",
  "status.paid.title": "Pembayaran berhasil",
  "status.paid.message": "Terima kasih! Pembayaran Anda sudah kami terima.",
  "status.pending.title": "Menunggu pembayaran",
  "status.pending.message": "Selesaikan pembayaran Anda. Status akan berubah begitu uangnya masuk.",
  "status.review.title": "Pembayaran sedang diperiksa",
  "status.review.message": "Bank sedang memeriksa pembayaran ini. Tunggu sebentar.",
  "status.declined.title": "Kartu Anda ditolak",
  "status.declined.message":
    "Tidak ada uang yang terpotong. Coba kartu lain atau metode pembayaran lain.",
  "status.failed.title": "Pembayaran gagal",
  "status.failed.message":
    "Tidak ada uang yang terpotong. Pesan lagi dan bayar dengan kartu atau metode lain.",
  "status.expired.title": "Waktu pembayaran habis",
  "status.expired.message": "Tidak ada uang yang terpotong. Pesan lagi jika masih mau.",
  "status.cancelled.title": "Pesanan dibatalkan",
  "status.cancelled.message": "Pesanan ini dibatalkan. Pesan lagi jika masih mau.",
  "status.refunded.title": "Dana dikembalikan",
  "status.refunded.message": "Pembayaran pesanan ini sudah dikembalikan.",
  "pay.va": "Nomor Virtual Account {bank}",
  "pay.billKey": "Kode bayar Mandiri (biller {biller})",
  "pay.code": "Kode pembayaran {store}",
  "pay.qris": "Pindai QRIS ini dengan aplikasi pembayaran Anda.",
  "error.network": "Server toko tidak bisa dihubungi. Periksa koneksi Anda lalu coba lagi.",
  "error.stock": "Stok tidak cukup: barang di keranjang Anda sudah habis dibeli orang lain.",
  "error.invalid": "Ada isian yang belum benar. Periksa lalu coba lagi.",
  "error.tooMany": "Terlalu banyak pesanan dalam waktu singkat. Tunggu sebentar lalu coba lagi.",
  "error.gateway": "Layanan pembayaran menolak transaksi ini. Coba lagi sebentar lagi.",
  "error.unavailable": "Layanan pembayaran sedang tidak menjawab. Coba lagi sebentar lagi.",
  "error.notFound": "Pesanan ini tidak ditemukan.",
  "error.other": "Terjadi kesalahan. Coba lagi.",
  "error.payment": "Halaman pembayaran tidak bisa dibuka. Coba lagi.",
  "error.detail": "Keterangan dari server: {detail}",
};

export type MessageKey = keyof typeof id;

const en: Record<MessageKey, string> = {
  "shop.title": "Drinks Shop",
  "shop.sandbox": "Sandbox mode: no real money",
  "shop.loading": "Loading…",
  "lang.switch": "Bahasa Indonesia",
  "catalog.title": "Products",
  "catalog.stock": "In stock: {n}",
  "catalog.soldOut": "Sold out",
  "catalog.add": "Add",
  "catalog.empty": "No products yet.",
  "cart.title": "Cart",
  "cart.empty": "Your cart is empty.",
  "cart.total": "Total",
  "cart.remove": "Remove",
  "cart.more": "One more",
  "cart.less": "One less",
  "checkout.title": "Your details",
  "checkout.name": "Name",
  "checkout.email": "Email",
  "checkout.phone": "Mobile number",
  "checkout.pay": "Pay {amount}",
  "checkout.paying": "Working…",
  "checkout.error.name": "Enter your name.",
  "checkout.error.email": "Enter a valid email, e.g. name@example.com.",
  "checkout.error.phone": "A mobile number has 8 to 15 digits, e.g. 0812 3456 7890.",
  "checkout.error.cart": "Your cart is empty.",
  "order.id": "Order {id}",
  "order.back": "Back to the shop",
  "order.payNow": "Pay now",
  "order.tryAgain": "Try another card or method",
  "order.orderAgain": "Order again",
  "order.live": "This page updates by itself.",
  "order.expires": "Pay before {time}",
  "order.items": "Items",
  "status.paid.title": "Payment received",
  "status.paid.message": "Thank you! We have received your payment.",
  "status.pending.title": "Waiting for your payment",
  "status.pending.message": "Complete your payment. This page changes as soon as it arrives.",
  "status.review.title": "Payment under review",
  "status.review.message": "The bank is checking this payment. Please wait a moment.",
  "status.declined.title": "Your card was declined",
  "status.declined.message": "Nothing was charged. Try another card or another payment method.",
  "status.failed.title": "Payment failed",
  "status.failed.message": "Nothing was charged. Order again and pay with another card or method.",
  "status.expired.title": "Payment expired",
  "status.expired.message": "Nothing was charged. Order again if you still want it.",
  "status.cancelled.title": "Order cancelled",
  "status.cancelled.message": "This order was cancelled. Order again if you still want it.",
  "status.refunded.title": "Refunded",
  "status.refunded.message": "The payment for this order has been refunded.",
  "pay.va": "{bank} virtual account number",
  "pay.billKey": "Mandiri bill key (biller {biller})",
  "pay.code": "{store} payment code",
  "pay.qris": "Scan this QRIS with your payment app.",
  "error.network": "The shop's server cannot be reached. Check your connection and try again.",
  "error.stock": "Not enough stock: an item in your cart has just sold out.",
  "error.invalid": "Something you entered is not right. Check it and try again.",
  "error.tooMany": "Too many orders in a short time. Wait a moment and try again.",
  "error.gateway": "The payment service refused this transaction. Try again in a moment.",
  "error.unavailable": "The payment service is not answering. Try again in a moment.",
  "error.notFound": "This order was not found.",
  "error.other": "Something went wrong. Please try again.",
  "error.payment": "The payment window could not be opened. Please try again.",
  "error.detail": "The server says: {detail}",
};

const CATALOGS: Record<Language, Record<MessageKey, string>> = { id, en };
const STORAGE_KEY = "bayar-shop.language";

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

interface I18n {
  language: Language;
  setLanguage: (language: Language) => void;
  t: Translate;
}

const I18nContext = createContext<I18n | null>(null);

function initialLanguage(): Language {
  const saved = window.localStorage.getItem(STORAGE_KEY);
  return saved === "en" ? "en" : "id";
}

export function I18nProvider({ children }: { children: ReactNode }) {
  const [language, setState] = useState<Language>(initialLanguage);
  const setLanguage = useCallback((next: Language) => {
    window.localStorage.setItem(STORAGE_KEY, next);
    document.documentElement.lang = next;
    setState(next);
  }, []);
  const t = useCallback<Translate>(
    (key, values = {}) =>
      CATALOGS[language][key].replace(/\{(\w+)\}/g, (_, name: string) =>
        String(values[name] ?? `{${name}}`),
      ),
    [language],
  );
  const value = useMemo(() => ({ language, setLanguage, t }), [language, setLanguage, t]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  const found = useContext(I18nContext);
  if (!found) throw new Error("useI18n outside I18nProvider");
  return found;
}

/** Whole rupiah as people write it: Rp 7.000 (dots between thousands, no decimals). */
export function rupiah(amount: number): string {
  const digits = String(Math.trunc(Math.abs(amount))).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  return `${amount < 0 ? "-" : ""}Rp ${digits}`;
}

/** A time in Jakarta's zone (WIB), as the shop's customers read it. */
export function wib(iso: string, language: Language): string {
  const text = new Intl.DateTimeFormat(language === "id" ? "id-ID" : "en-GB", {
    timeZone: "Asia/Jakarta",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(iso));
  return `${text} WIB`;
}
