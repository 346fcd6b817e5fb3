// The REST API (/v1) around one Hypervisor: Fastify with TypeBox schemas on every body, parameter
// and query; errors as problem documents; the OpenAPI document at /v1/openapi.json. The same app
// serves the unix socket and (with a bearer token) TCP; changes go through the core, which runs
// them one at a time, so handlers never hold state of their own between awaits.
import { timingSafeEqual } from "node:crypto";
import swagger from "@fastify/swagger";
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { LogController } from "fastify";
import type { Logger } from "pino";
import { parse as parseYaml } from "yaml";
import type { Hypervisor } from "../core/hypervisor.js";
import { ApiRequestError, PROBLEM_TYPE, notFoundProblem, toProblem } from "./problem.js";
import { registerCaptureRoutes } from "./routes/captures.js";
import { isConsoleAsset, registerConsoleRoutes } from "./routes/console.js";
import { registerDeclarativeRoutes } from "./routes/declarative.js";
import { registerEventRoutes } from "./routes/events.js";
import { registerInstanceRoutes } from "./routes/instances.js";
import { registerLinkRoutes } from "./routes/links.js";
import { registerMetricsRoutes } from "./routes/metrics.js";
import { registerNfRoutes } from "./routes/nf.js";
import { registerPortRoutes } from "./routes/ports.js";
import { registerStatsRoutes } from "./routes/stats.js";
import { registerStatusRoutes } from "./routes/status.js";
import { registerTableRoutes } from "./routes/tables.js";
import { registerTraceRoutes } from "./routes/traces.js";

export const API_VERSION = "0.1.0";

export interface ApiOptions {
  hv: Hypervisor;
  log: Logger;
  /** When set, every request must carry `Authorization: Bearer <token>` (TCP listeners). */
  token?: string;
  /** A private directory for uploads (NF packages, objects). */
  workDir: string;
  /** What GET /v1/status reports. */
  info: { stateDir: string; bpffs: string; startedAt: number };
}

/** Shared by the route modules. */
export interface ApiContext extends ApiOptions {
  /** Open event streams, ended when the server closes. */
  streams: Set<{ end(): void }>;
}

function createApp(log: Logger) {
  return Fastify({
    loggerInstance: log,
    // Requests are logged by the onResponse hook below: changes at info, reads at debug.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "req" }),
    forceCloseConnections: true,
    bodyLimit: 8 << 20,
  }).withTypeProvider<TypeBoxTypeProvider>();
}

export type Api = ReturnType<typeof createApp>;

function tokenMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const a = Buffer.from(m[1].trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Builds the API app (not listening yet). */
export async function buildApi(opts: ApiOptions): Promise<Api> {
  const ctx: ApiContext = { ...opts, streams: new Set() };
  const app = createApp(opts.log.child({ component: "api" }));
  app.setValidatorCompiler(TypeBoxValidatorCompiler);

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "plexus",
        description:
          "The plexus network hypervisor: network-function types, instances, ports, links, attachments, tables, topology, counters and events. Errors are application/problem+json.",
        version: API_VERSION,
      },
      ...(opts.token
        ? {
            components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
            security: [{ bearer: [] }],
          }
        : {}),
    },
  });

  // Uploads: NF packages (tar, gzip'd or not) and object files.
  app.addContentTypeParser(
    ["application/gzip", "application/x-gzip", "application/x-tar", "application/octet-stream"],
    { parseAs: "buffer", bodyLimit: 256 << 20 },
    (_req, body, done) => done(null, body),
  );
  // Topology documents may be sent as YAML.
  app.addContentTypeParser(
    ["application/yaml", "application/x-yaml", "text/yaml"],
    { parseAs: "string" },
    (_req, body, done) => {
      try {
        done(null, parseYaml(body as string) ?? {});
      } catch (e) {
        done(new ApiRequestError(`the YAML body does not parse: ${(e as Error).message}`), undefined);
      }
    },
  );

  if (opts.token) {
    const token = opts.token;
    app.addHook("onRequest", async (req) => {
      if (isConsoleAsset(req)) return; // the console's files; its data comes from /v1 with the token
      if (!tokenMatches(req.headers.authorization, token))
        throw new ApiRequestError(
          "missing or wrong bearer token: send Authorization: Bearer <token> (the CLI reads PLEXUS_TOKEN)",
          401,
        );
    });
  }

  app.setErrorHandler((err, req, reply) => {
    const p = toProblem(err);
    if (p.status >= 500) req.log.error({ err, url: req.url }, "request failed");
    else
      req.log.info(
        { status: p.status, method: req.method, url: req.url, detail: p.detail },
        "request refused",
      );
    if (p.status === 401) void reply.header("www-authenticate", 'Bearer realm="plexus"');
    return reply.code(p.status).type(PROBLEM_TYPE).send(p);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).type(PROBLEM_TYPE).send(notFoundProblem(req.method, req.url)),
  );
  // Changes are logged once each, with their outcome.
  app.addHook("onResponse", async (req, reply) => {
    if (req.method !== "GET" && reply.statusCode < 400)
      req.log.info({ method: req.method, url: req.url, status: reply.statusCode }, "change");
    else req.log.debug({ method: req.method, url: req.url, status: reply.statusCode }, "request");
  });
  app.addHook("preClose", async () => {
    for (const s of ctx.streams) s.end();
    ctx.streams.clear();
  });

  registerStatusRoutes(app, ctx);
  registerNfRoutes(app, ctx);
  registerInstanceRoutes(app, ctx);
  registerPortRoutes(app, ctx);
  registerLinkRoutes(app, ctx);
  registerTableRoutes(app, ctx);
  registerEventRoutes(app, ctx);
  registerCaptureRoutes(app, ctx);
  registerDeclarativeRoutes(app, ctx);
  registerConsoleRoutes(app);
  registerStatsRoutes(app, ctx);
  registerMetricsRoutes(app, ctx);
  registerTraceRoutes(app, ctx);
  app.get("/v1/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await app.ready();
  return app;
}
