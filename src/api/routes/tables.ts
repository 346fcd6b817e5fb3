// Per-instance tables: what tables an instance has (fields from the NF's maps), their entries,
// adding and deleting entries. Entries are checked field by field by the NF's table codec.
import { Type } from "typebox";
import type { Api, ApiContext } from "../server.js";
import { NameParams, TableEntry, TableInfo, TableParams, errorResponses } from "../schemas.js";

export function registerTableRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["tables"];

  app.get(
    "/v1/instances/:name/tables",
    {
      schema: {
        summary: "An instance's tables and their key and value fields",
        tags,
        params: NameParams,
        response: { 200: Type.Array(TableInfo), ...errorResponses(400, 404) },
      },
    },
    async (req) => hv.tableInfo(req.params.name),
  );

  app.get(
    "/v1/instances/:name/tables/:table",
    {
      schema: {
        summary: "The entries of a table",
        tags,
        params: TableParams,
        response: {
          200: Type.Array(Type.Record(Type.String(), Type.Unknown())),
          ...errorResponses(400, 404),
        },
      },
    },
    async (req) => hv.tableList(req.params.name, req.params.table),
  );

  app.post(
    "/v1/instances/:name/tables/:table",
    {
      schema: {
        summary: "Add (or replace) an entry; it is kept in the desired state",
        tags,
        params: TableParams,
        body: TableEntry,
        response: { 201: TableEntry, ...errorResponses(400, 404, 422) },
      },
    },
    async (req, reply) => {
      await hv.tableAdd(req.params.name, req.params.table, req.body);
      void reply.code(201);
      return req.body;
    },
  );

  app.post(
    "/v1/instances/:name/tables/:table/bulk",
    {
      bodyLimit: 64 << 20,
      schema: {
        summary: "Add (or replace) many entries in one step (batched map updates, one state save)",
        description: "The body may be up to 64 MiB.",
        tags,
        params: TableParams,
        body: Type.Array(TableEntry, { maxItems: 1_000_000 }),
        response: { 201: Type.Object({ added: Type.Integer() }), ...errorResponses(400, 404, 422) },
      },
    },
    async (req, reply) => {
      const added = await hv.tableAddMany(req.params.name, req.params.table, req.body);
      void reply.code(201);
      return { added };
    },
  );

  app.delete(
    "/v1/instances/:name/tables/:table",
    {
      schema: {
        summary: "Delete the entry whose key fields the body gives",
        tags,
        params: TableParams,
        body: TableEntry,
        response: { 204: Type.Null(), ...errorResponses(400, 404, 422) },
      },
    },
    async (req, reply) => {
      await hv.tableDelete(req.params.name, req.params.table, req.body);
      return reply.code(204).send(null);
    },
  );
}
