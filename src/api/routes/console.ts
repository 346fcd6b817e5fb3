// The web console: the bundle built from web/ (dist/console/) served under /ui/. The bundle holds no
// data and no secret, so its files are served without a token (a browser cannot send a bearer
// header when it navigates); everything the page shows comes from /v1, which asks for the token
// as for any client. The page takes the token from its URL fragment (/ui/#token=...) or a login
// form and sends it as `Authorization: Bearer` (web/src/auth.ts).
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import type { FastifyRequest } from "fastify";
import { projectRoot } from "../../build/compile-bpf.js";
import { NotFoundError } from "../../core/errors.js";
import type { Api } from "../server.js";

const ROUTES = new Set(["/ui", "/ui/*"]);

/** Where `npm run build` puts the console (PLEXUS_CONSOLE_DIR overrides it). */
export const consoleDir = (): string =>
  process.env.PLEXUS_CONSOLE_DIR ?? join(projectRoot, "dist", "console");

/** True for requests of the console's static files (the API's token check lets them through). */
export const isConsoleAsset = (req: FastifyRequest): boolean => ROUTES.has(req.routeOptions.url ?? "");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".woff2": "font/woff2",
};

// The page talks to its own origin only and loads nothing from anywhere else.
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export function registerConsoleRoutes(app: Api, dir: string = consoleDir()): void {
  const root = resolve(dir);
  app.get("/ui", { schema: { hide: true } }, async (_req, reply) => reply.redirect("/ui/", 302));
  app.get("/ui/*", { schema: { hide: true } }, async (req, reply) => {
    const rel = (req.params as { "*": string })["*"] || "index.html";
    const file = resolve(root, rel);
    if (!file.startsWith(root + sep) || rel.includes("\0"))
      throw new NotFoundError(`no console file '${rel}'`);
    let size: number | undefined;
    try {
      const st = await stat(file);
      if (st.isFile()) size = st.size;
    } catch {
      // missing
    }
    if (size === undefined) {
      if (rel === "index.html")
        throw new NotFoundError(`the web console is not built (no ${file}): run npm run build`);
      throw new NotFoundError(`no console file '${rel}'`);
    }
    const type = TYPES[extname(file)] ?? "application/octet-stream";
    // Vite names assets by content hash: they never change; index.html always may.
    const cache = rel.startsWith("assets/") ? "public, max-age=31536000, immutable" : "no-cache";
    return reply
      .headers({ ...SECURITY_HEADERS, "content-type": type, "cache-control": cache })
      .send(await readFile(file));
  });
}
