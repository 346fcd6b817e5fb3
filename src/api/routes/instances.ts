// Instances: list, show, create, delete, configure; attachments of transparent instances; upgrades.
import { Type } from "typebox";
import type { AttachPosition } from "../../core/hypervisor.js";
import { ApiRequestError } from "../problem.js";
import type { Api, ApiContext } from "../server.js";
import {
  AttachBody,
  ConfigBody,
  CreateInstanceBody,
  Instance,
  NameParams,
  UpgradeBody,
  errorResponses,
} from "../schemas.js";
import { saveObject } from "../upload.js";
import { instanceWithCounters } from "../views.js";

function position(b: { first?: boolean; last?: boolean; before?: string; after?: string }): AttachPosition {
  const given = [b.first && "first", b.last && "last", b.before && "before", b.after && "after"].filter(
    Boolean,
  );
  if (given.length > 1)
    throw new ApiRequestError(`give one of first, last, before, after (got ${given.join(" and ")})`, 422);
  if (b.first) return { first: true };
  if (b.before) return { before: b.before };
  if (b.after) return { after: b.after };
  return { last: true };
}

export function registerInstanceRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["instances"];

  app.get(
    "/v1/instances",
    {
      schema: {
        summary: "Instances, with ports and counters",
        tags,
        response: { 200: Type.Array(Instance) },
      },
    },
    async () => hv.listInstances().map((v) => instanceWithCounters(hv, v)),
  );

  app.get(
    "/v1/instances/:name",
    {
      schema: {
        summary: "One instance",
        tags,
        params: NameParams,
        response: { 200: Instance, ...errorResponses(400, 404) },
      },
    },
    async (req) => instanceWithCounters(hv, hv.getInstance(req.params.name)),
  );

  app.post(
    "/v1/instances",
    {
      schema: {
        summary: "Create an instance of an NF type (optionally with ports)",
        tags,
        body: CreateInstanceBody,
        response: { 201: Instance, ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const v = await hv.createInstance(req.body);
      void reply.code(201);
      return instanceWithCounters(hv, v);
    },
  );

  app.delete(
    "/v1/instances/:name",
    {
      schema: {
        summary: "Delete an instance (its links are disconnected, what is attached to it detached)",
        tags,
        params: NameParams,
        response: { 204: Type.Null(), ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      await hv.deleteInstance(req.params.name);
      return reply.code(204).send(null);
    },
  );

  app.patch(
    "/v1/instances/:name",
    {
      schema: {
        summary: "Change an instance's configuration (merged, or replaced with replace: true)",
        tags,
        params: NameParams,
        body: ConfigBody,
        response: { 200: Instance, ...errorResponses(400, 404, 422) },
      },
    },
    async (req) =>
      instanceWithCounters(
        hv,
        await hv.configureInstance(req.params.name, req.body.config, { replace: req.body.replace }),
      ),
  );

  app.put(
    "/v1/instances/:name/attachment",
    {
      schema: {
        summary: "Attach a transparent instance to an interface or an instance port",
        description:
          "direction: ingress (default) or egress. Order among the instances at the same point: first, last (default), before NAME or after NAME.",
        tags: ["attachments"],
        params: NameParams,
        body: AttachBody,
        response: { 200: Instance, ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req) => {
      const b = req.body;
      await hv.attach(req.params.name, b.target, b.direction ?? "ingress", position(b));
      return instanceWithCounters(hv, hv.getInstance(req.params.name));
    },
  );

  app.delete(
    "/v1/instances/:name/attachment",
    {
      schema: {
        summary: "Detach a transparent instance",
        tags: ["attachments"],
        params: NameParams,
        response: { 204: Type.Null(), ...errorResponses(400, 404, 422) },
      },
    },
    async (req, reply) => {
      await hv.detach(req.params.name);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/instances/:name/upgrade",
    {
      schema: {
        summary: "Swap in another version of the instance's NF type (default: the newest), keeping its maps",
        tags: ["upgrade"],
        params: NameParams,
        body: UpgradeBody,
        response: { 200: Instance, ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req) => instanceWithCounters(hv, await hv.upgrade(req.params.name, { version: req.body.version })),
  );

  app.post(
    "/v1/instances/:name/upgrade/object",
    {
      bodyLimit: 64 << 20,
      schema: {
        summary:
          "Swap in new code from an eBPF object file (the body, application/octet-stream), keeping the maps",
        tags: ["upgrade"],
        consumes: ["application/octet-stream"],
        params: NameParams,
        response: { 200: Instance, ...errorResponses(400, 404, 409, 415, 422) },
      },
    },
    async (req) => {
      if (!Buffer.isBuffer(req.body) || req.body.length === 0)
        throw new ApiRequestError(
          "send the object file as the body with content-type application/octet-stream",
          415,
        );
      const file = saveObject(ctx.workDir, req.body);
      try {
        return instanceWithCounters(hv, await hv.upgrade(req.params.name, { object: file.root }));
      } finally {
        file.cleanup();
      }
    },
  );
}
