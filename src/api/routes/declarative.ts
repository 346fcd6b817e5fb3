// Declarative topology: apply a document (JSON or YAML), export the desired state as one.
import { applyDocument, exportDocument, TopologyDocumentSchema } from "../../core/declarative.js";
import type { Api, ApiContext } from "../server.js";
import { ApplyQuery, ApplyResult, errorResponses } from "../schemas.js";

export function registerDeclarativeRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["declarative"];

  app.post(
    "/v1/apply",
    {
      schema: {
        summary: "Make the topology match a document (validated as a whole first; idempotent)",
        description:
          "The body is a topology document as GET /v1/export writes it, as JSON or YAML (content-type application/yaml). ?prune=true removes what the document does not mention; ?dryRun=true only lists the changes.",
        tags,
        querystring: ApplyQuery,
        body: TopologyDocumentSchema,
        response: { 200: ApplyResult, ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req) => applyDocument(hv, req.body, { prune: req.query.prune, dryRun: req.query.dryRun }),
  );

  app.get(
    "/v1/export",
    {
      schema: {
        summary: "The desired state as a topology document that /v1/apply accepts",
        tags,
        response: { 200: TopologyDocumentSchema },
      },
    },
    async () => exportDocument(hv.desiredState()),
  );
}
