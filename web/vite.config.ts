// The web console's build: web/ bundled into dist/console/, which the daemon serves under /ui/.
// Everything the page needs is in the bundle; it fetches nothing from the network but the API.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: here,
  base: "/ui/",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // Small enough to read in the browser's devtools; maps would double the size for little.
    sourcemap: false,
    modulePreload: false,
  },
});
