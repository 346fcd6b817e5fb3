// Events: the recent ones, and a server-sent-events stream of new ones (`plexus events --follow`).
import { Type } from "typebox";
import type { PlexusEvent } from "../../core/events.js";
import type { Api, ApiContext } from "../server.js";
import { Event, EventsQuery, errorResponses } from "../schemas.js";

const KEEPALIVE_MS = 15_000;

export function registerEventRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["events"];

  app.get(
    "/v1/events",
    {
      schema: {
        summary: "Recent events, oldest first",
        tags,
        querystring: EventsQuery,
        response: { 200: Type.Array(Event), ...errorResponses(400) },
      },
    },
    async (req) => {
      const list = hv.events.list(req.query.since ?? 0, req.query.instance);
      return req.query.limit ? list.slice(-req.query.limit) : list;
    },
  );

  app.get(
    "/v1/events/stream",
    {
      schema: {
        summary:
          "A text/event-stream of events: the recent ones after ?since= (or Last-Event-ID), then new ones",
        tags,
        querystring: EventsQuery,
        produces: ["text/event-stream"],
        response: { 200: Type.String({ description: "text/event-stream" }), ...errorResponses(400) },
      },
    },
    (req, reply) => {
      const lastId = Number(req.headers["last-event-id"]);
      const since = req.query.since ?? (Number.isInteger(lastId) ? lastId : undefined);
      const instance = req.query.instance;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      const send = (e: PlexusEvent) =>
        res.write(`id: ${e.seq}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
      // Listing and subscribing in one synchronous step: no event falls between them.
      const backlog = since === undefined ? [] : hv.events.list(since, instance);
      for (const e of backlog) send(e);
      const unsubscribe = hv.events.subscribe((e) => {
        if (instance === undefined || e.instance === instance) send(e);
      });
      res.write(": subscribed\n\n");
      const timer = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
      const stream = {
        end: () => {
          unsubscribe();
          clearInterval(timer);
          res.end();
        },
      };
      ctx.streams.add(stream);
      req.raw.on("close", () => {
        unsubscribe();
        clearInterval(timer);
        ctx.streams.delete(stream);
      });
    },
  );
}
