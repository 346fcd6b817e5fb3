// Links: a port connected to another instance's port or to a host interface.
import { Type } from "typebox";
import { ApiRequestError } from "../problem.js";
import type { Api, ApiContext } from "../server.js";
import { ConnectBody, Link, PortParams, errorResponses } from "../schemas.js";
import { links } from "../views.js";

export function registerLinkRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["links"];

  app.get(
    "/v1/links",
    {
      schema: {
        summary: "Every connection: port to port (once) and port to interface",
        tags,
        response: { 200: Type.Array(Link) },
      },
    },
    async () => links(hv.desiredState()),
  );

  app.post(
    "/v1/links",
    {
      schema: {
        summary: "Connect INSTANCE:PORT to another instance's port or to a host interface",
        tags,
        body: ConnectBody,
        response: { 201: Link, ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const [instance, port] = req.body.port.split(":");
      if (!instance || !port) throw new ApiRequestError(`port '${req.body.port}': write INSTANCE:PORT`, 422);
      await hv.connect(instance, port, req.body.peer);
      void reply.code(201);
      return {
        a: req.body.port,
        b: req.body.peer,
        kind: req.body.peer.includes(":") ? "port" : "interface",
      } as const;
    },
  );

  app.delete(
    "/v1/links/:name/:port",
    {
      schema: {
        summary: "Disconnect a port (both ends of a port-to-port link)",
        tags,
        params: PortParams,
        response: { 204: Type.Null(), ...errorResponses(400, 404, 422) },
      },
    },
    async (req, reply) => {
      await hv.disconnect(req.params.name, req.params.port);
      return reply.code(204).send(null);
    },
  );
}
