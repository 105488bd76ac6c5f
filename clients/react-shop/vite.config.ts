import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// VITE_BAYAR_URL (the one setting, read at build time) is where bayar's public API answers.
export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 5173, strictPort: true },
});
