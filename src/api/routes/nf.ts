// NF types: list, show, install from an uploaded package (tar or tar.gz), remove.
import { Type } from "typebox";
import { ApiRequestError } from "../problem.js";
import type { Api, ApiContext } from "../server.js";
import { NfType, TypeParams, VersionQuery, errorResponses } from "../schemas.js";
import { unpackPackage } from "../upload.js";
import { nfTypeJson } from "../views.js";

export function registerNfRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  app.get(
    "/v1/nf",
    {
      schema: {
        summary: "Network-function types (every installed version)",
        tags: ["nf"],
        response: { 200: Type.Array(NfType) },
      },
    },
    async () => {
      const state = hv.desiredState();
      return hv.registry.list().map((p) => nfTypeJson(p, state));
    },
  );

  app.get(
    "/v1/nf/:type",
    {
      schema: {
        summary: "One NF type (its newest version, or ?version=)",
        tags: ["nf"],
        params: TypeParams,
        querystring: VersionQuery,
        response: { 200: NfType, ...errorResponses(400, 404) },
      },
    },
    async (req) => nfTypeJson(hv.registry.get(req.params.type, req.query.version), hv.desiredState()),
  );

  app.post(
    "/v1/nf",
    {
      bodyLimit: 256 << 20,
      schema: {
        summary: "Install an NF type from a built package (tar or tar.gz of nf.yaml, build/, control.js)",
        description:
          "Send the archive as the body with content-type application/gzip (or application/x-tar). The package is usable at once.",
        tags: ["nf"],
        consumes: ["application/gzip", "application/x-tar"],
        response: { 201: NfType, ...errorResponses(400, 409, 415, 422) },
      },
    },
    async (req, reply) => {
      if (!Buffer.isBuffer(req.body))
        throw new ApiRequestError(
          "send the package as a tar.gz archive with content-type application/gzip (plexus nf install DIR packs one)",
          415,
        );
      const unpacked = unpackPackage(ctx.workDir, req.body);
      try {
        const pkg = await hv.installType(unpacked.root);
        void reply.code(201);
        return nfTypeJson(pkg, hv.desiredState());
      } finally {
        unpacked.cleanup();
      }
    },
  );

  app.delete(
    "/v1/nf/:type",
    {
      schema: {
        summary: "Remove an installed NF type (every version, or ?version=)",
        tags: ["nf"],
        params: TypeParams,
        querystring: VersionQuery,
        response: { 204: Type.Null(), ...errorResponses(400, 404, 409) },
      },
    },
    async (req, reply) => {
      await hv.removeType(req.params.type, req.query.version);
      return reply.code(204).send(null);
    },
  );
}
