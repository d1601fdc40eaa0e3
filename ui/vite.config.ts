import { defineConfig } from "vite";
import preact from "@preact/preset-vite";

// The dashboard is served from Tauri's asset protocol under a strict CSP:
// everything is bundled, nothing is loaded from the network.
export default defineConfig({
  plugins: [preact()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2021",
    // Keep the bundle as real files: no inline data: scripts under the CSP.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
