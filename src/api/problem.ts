// Errors as RFC 9457 problem documents (application/problem+json): the status, a short title, and
// a detail that says what was wrong and how to fix it. Core errors carry their status; errors of
// the bpf library are mapped by kind; schema violations name the field.
import { STATUS_CODES } from "node:http";
import {
  BpfError,
  NotSupportedError,
  ObjectFileError,
  PinError,
  PlexusBpfError,
  VerifierError,
} from "../bpf/errors.js";
import { PlexusError } from "../core/errors.js";

export const PROBLEM_TYPE = "application/problem+json";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Schema violations, one line each ("body/ports/0/name: must match pattern ..."). */
  errors?: string[];
  /** The end of the verifier log, when the verifier rejected a program. */
  verifierLog?: string;
}

/** A request the API itself refuses (bad content type, missing token...). */
export class ApiRequestError extends PlexusError {
  override name = "ApiRequestError";
  constructor(
    message: string,
    override readonly status: number = 400,
  ) {
    super(message);
  }
}

const kebab = (s: string) =>
  s
    .replace(/Error$/, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .toLowerCase() || "error";

function problem(status: number, kind: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return {
    type: `https://plexus.dev/problems/${kind}`,
    title: STATUS_CODES[status] ?? "Error",
    status,
    detail,
    ...extra,
  };
}

/** One validation error of TypeBox or ajv (the fields both have). */
export interface SchemaIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** "body/config/mtu: must be >= 68", "body: missing required field 'type'". */
export function describeIssues(
  part: string,
  issues: readonly (SchemaIssue & { schemaPath?: string })[],
): string[] {
  const out: string[] = [];
  // Alternatives (anyOf) are summed up once: "must be one of 'tc', 'xdp'", not branch by branch.
  const unions = new Map<string, unknown[]>();
  for (const i of issues) if (i.keyword === "anyOf" && i.schemaPath) unions.set(i.schemaPath, []);
  const unionOf = (schemaPath = "") => [...unions.keys()].find((u) => schemaPath.startsWith(`${u}/anyOf/`));
  for (const i of issues) {
    const u = unionOf(i.schemaPath);
    if (u !== undefined)
      unions.get(u)?.push(i.keyword === "const" ? (i.params?.allowedValue ?? null) : undefined);
  }
  for (const i of issues) {
    const path = `${part}${i.instancePath}`;
    const params = i.params ?? {};
    if (unionOf(i.schemaPath) !== undefined) continue;
    if (i.keyword === "anyOf" && i.schemaPath) {
      const values = unions.get(i.schemaPath) ?? [];
      out.push(
        values.length && values.every((v) => v !== undefined)
          ? `${path}: must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}`
          : `${path}: has none of the allowed forms (see the schema)`,
      );
      continue;
    }
    if (i.keyword === "boolean") continue; // "schema is false": said better by additionalProperties
    if (i.keyword === "required") {
      const names =
        (params.requiredProperties as string[] | undefined) ??
        (params.missingProperty ? [String(params.missingProperty)] : []);
      for (const n of names) out.push(`${path}: missing required field '${n}'`);
      continue;
    }
    if (i.keyword === "additionalProperties") {
      const names = (params.additionalProperties as string[] | string | undefined) ?? [];
      for (const n of Array.isArray(names) ? names : [names])
        out.push(`${path}: unknown field '${n}' (remove it, or check its spelling)`);
      continue;
    }
    out.push(`${path}: ${i.message ?? i.keyword}`);
  }
  return [...new Set(out)];
}

interface FastifyishError {
  statusCode?: number;
  code?: string;
  validation?: SchemaIssue[];
  validationContext?: string;
  message: string;
}

/** The problem document for any error a handler (or Fastify itself) raised. */
export function toProblem(err: unknown): Problem {
  if (err instanceof PlexusError) {
    const kind = kebab(err.name);
    return problem(err.status, kind, err.message);
  }
  if (err instanceof VerifierError) {
    const lines = err.log.trim().split("\n");
    // The message is a summary and then the end of the log: the summary goes in the detail.
    const all = err.message.split("\n");
    const end = all.findIndex((l) => /^verifier log/.test(l));
    const summary = (end < 0 ? all.slice(0, 3) : all.slice(0, end)).map((l) => l.trim()).filter(Boolean);
    return problem(
      422,
      "verifier-rejected",
      `the kernel's verifier rejected program ${err.program}: ${summary.join("; ")}; fix the program (the end of the verifier log is in verifierLog)`,
      { verifierLog: lines.slice(-30).join("\n") },
    );
  }
  if (err instanceof ObjectFileError) return problem(422, "bad-object", err.message);
  if (err instanceof NotSupportedError) return problem(422, "not-supported", err.message);
  if (err instanceof PinError) return problem(409, "pin-conflict", err.message);
  if (err instanceof BpfError) return problem(500, "kernel-error", err.message);
  if (err instanceof PlexusBpfError) return problem(422, kebab(err.name), err.message);
  const e = err as FastifyishError;
  if (e && Array.isArray(e.validation)) {
    const part = e.validationContext ?? "request";
    const errors = describeIssues(part, e.validation);
    return problem(
      400,
      "invalid-request",
      `${errors.slice(0, 5).join("; ")} (the request schema is in /v1/openapi.json)`,
      { errors },
    );
  }
  if (e && typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    let detail = e.message;
    if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE")
      detail = `${e.message}; send JSON (content-type: application/json)`;
    else if (e.code === "FST_ERR_CTP_EMPTY_JSON_BODY") detail = "the request needs a JSON body";
    else if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") detail = "the request body is too large";
    return problem(e.statusCode, "bad-request", detail);
  }
  return problem(
    500,
    "internal-error",
    `internal error: ${e?.message ?? String(err)} (the daemon log has the details)`,
  );
}

export function notFoundProblem(method: string, url: string): Problem {
  return problem(
    404,
    "no-such-route",
    `no route ${method} ${url}; the API is under /v1 (the routes are listed in /v1/openapi.json)`,
  );
}
