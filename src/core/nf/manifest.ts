// nf.yaml: what a network-function package declares. Validated with a schema; errors name the
// field and what is wrong.
import { readFileSync } from "node:fs";
import { Type, type Static } from "typebox";
import { Value } from "typebox/value";
import { parse as parseYaml } from "yaml";
import { PlexusError } from "../errors.js";

/** Formats that table fields can be shown and parsed in (default: from the BTF type). */
export const FIELD_FORMATS = ["mac", "ipv4", "ipv6", "port", "hex", "bool", "int", "string"] as const;

const JsonSchemaObject = Type.Object(
  { type: Type.Literal("object"), properties: Type.Optional(Type.Record(Type.String(), Type.Any())) },
  { additionalProperties: true },
);

export const TableSpec = Type.Object(
  {
    /** The map holding the table, by its name in dataplane.c. */
    map: Type.String({ minLength: 1 }),
    description: Type.Optional(Type.String()),
    /** Field name -> format, for fields whose BTF type alone does not say how to show them. */
    formats: Type.Optional(Type.Record(Type.String(), Type.Union(FIELD_FORMATS.map((f) => Type.Literal(f))))),
    /** Whether users may add and delete entries (false: read-only, e.g. learned state). */
    writable: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ManifestSchema = Type.Object(
  {
    name: Type.String({ pattern: "^[a-z][a-z0-9-]{0,30}$" }),
    version: Type.String({ pattern: "^\\d+\\.\\d+\\.\\d+(?:[-+][0-9A-Za-z.-]+)?$" }),
    description: Type.String(),
    kind: Type.Union([Type.Literal("standard"), Type.Literal("transparent")]),
    hooks: Type.Optional(Type.Array(Type.Union([Type.Literal("tc"), Type.Literal("xdp")]), { minItems: 1 })),
    maxPorts: Type.Optional(Type.Integer({ minimum: 1, maximum: 128 })),
    config: Type.Optional(JsonSchemaObject),
    portConfig: Type.Optional(JsonSchemaObject),
    tables: Type.Optional(Type.Record(Type.String({ pattern: "^[a-z][a-z0-9-]*$" }), TableSpec)),
    /** NF drop reasons 0..11 by name (shown in counters and metrics). */
    dropReasons: Type.Optional(Type.Record(Type.String({ pattern: "^(?:[0-9]|1[01])$" }), Type.String())),
    /** The control-plane module, relative to the package (a compiled .js file). */
    controlPlane: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export type Manifest = Static<typeof ManifestSchema>;
export type TableSpec = Static<typeof TableSpec>;

export class ManifestError extends PlexusError {
  override name = "ManifestError";
}

/** Schema errors as readable lines: "/tables/fdb/map: must be string". */
export function schemaErrors(schema: unknown, value: unknown): string[] {
  return [...Value.Errors(schema as Parameters<typeof Value.Errors>[0], value)].map(
    (e) => `${e.instancePath || "/"}: ${e.message}`,
  );
}

export function parseManifest(text: string, where: string): Manifest {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ManifestError(`${where}: not valid YAML: ${(e as Error).message}`);
  }
  const errors = schemaErrors(ManifestSchema, doc);
  if (errors.length) throw new ManifestError(`${where}: ${errors.join("; ")}`);
  return doc as Manifest;
}

export function readManifest(path: string): Manifest {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ManifestError(`cannot read ${path}: ${(e as Error).message}`);
  }
  return parseManifest(text, path);
}

/** Applies `default`s of a JSON-schema object's properties to a config object. */
export function withDefaults(
  schema: Manifest["config"],
  value: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...value };
  for (const [k, p] of Object.entries(schema?.properties ?? {})) {
    const d = (p as { default?: unknown }).default;
    if (out[k] === undefined && d !== undefined) out[k] = structuredClone(d);
  }
  return out;
}
