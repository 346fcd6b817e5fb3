// Ports of standard instances: list, show, add, delete, configure.
import { Type } from "typebox";
import type { Api, ApiContext } from "../server.js";
import { AddPortBody, ConfigBody, NameParams, Port, PortParams, errorResponses } from "../schemas.js";
import { portJson } from "../views.js";

export function registerPortRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["ports"];

  app.get(
    "/v1/instances/:name/ports",
    {
      schema: {
        summary: "An instance's ports, with peers and counters",
        tags,
        params: NameParams,
        response: { 200: Type.Array(Port), ...errorResponses(400, 404) },
      },
    },
    async (req) => hv.getInstance(req.params.name).ports.map(portJson),
  );

  app.get(
    "/v1/instances/:name/ports/:port",
    {
      schema: {
        summary: "One port",
        tags,
        params: PortParams,
        response: { 200: Port, ...errorResponses(400, 404) },
      },
    },
    async (req) => portJson(hv.portView(req.params.name, req.params.port)),
  );

  app.post(
    "/v1/instances/:name/ports",
    {
      schema: {
        summary: "Add a port (optionally connected to a peer at once)",
        tags,
        params: NameParams,
        body: AddPortBody,
        response: { 201: Port, ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const v = await hv.addPort(req.params.name, b.name, { peer: b.peer, config: b.config });
      void reply.code(201);
      return portJson(v);
    },
  );

  app.delete(
    "/v1/instances/:name/ports/:port",
    {
      schema: {
        summary: "Delete a port (disconnecting it first)",
        tags,
        params: PortParams,
        response: { 204: Type.Null(), ...errorResponses(400, 404, 409) },
      },
    },
    async (req, reply) => {
      await hv.deletePort(req.params.name, req.params.port);
      return reply.code(204).send(null);
    },
  );

  app.patch(
    "/v1/instances/:name/ports/:port",
    {
      schema: {
        summary: "Change a port's configuration (merged, or replaced with replace: true)",
        tags,
        params: PortParams,
        body: ConfigBody,
        response: { 200: Port, ...errorResponses(400, 404, 422) },
      },
    },
    async (req) =>
      portJson(
        await hv.configurePort(req.params.name, req.params.port, req.body.config, {
          replace: req.body.replace,
        }),
      ),
  );
}
