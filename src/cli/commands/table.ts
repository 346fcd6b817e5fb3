// plexus INSTANCE TABLE show|add|del ARGS (also spelled plexus table INSTANCE TABLE ...): an NF's
// tables, generically. The first positional is the first key field; then `name value` pairs or
// name=value, typed by the table's fields.
import type { Command } from "commander";
import { seg } from "../../api/client.js";
import type { TableInfoJson } from "../../api/schemas.js";
import { NotFoundError } from "../../core/errors.js";
import { UsageError } from "../errors.js";
import { parseTableArgs } from "../kv.js";
import { table as textTable } from "../output.js";
import { outputFormat, printStructured } from "../render.js";
import { apiClient, examples } from "./client.js";

const ACTIONS: Record<string, "show" | "add" | "del" | "load"> = {
  load: "load",
  show: "show",
  list: "show",
  ls: "show",
  add: "add",
  set: "add",
  del: "del",
  delete: "del",
  rm: "del",
};

const cell = (v: unknown) =>
  v === undefined || v === "" ? "-" : typeof v === "string" ? v : JSON.stringify(v);

export async function runTableCommand(
  cmd: Command,
  instance: string,
  tableName: string,
  actionWord: string | undefined,
  args: string[],
  output: string | undefined,
): Promise<void> {
  const action = ACTIONS[actionWord ?? "show"];
  if (!action)
    throw new UsageError(
      `'${actionWord}' is not a table action (show, add, del or load): plexus ${instance} ${tableName} show`,
    );
  const format = outputFormat(output);
  const api = apiClient(cmd);
  const base = `/v1/instances/${seg(instance)}/tables`;
  const tables = await api.get<TableInfoJson[]>(base);
  const info = tables.find((t) => t.name === tableName);
  if (!info)
    throw new NotFoundError(
      `${instance} has no table '${tableName}' (tables: ${tables.map((t) => t.name).join(", ") || "none"})`,
    );
  const path = `${base}/${seg(tableName)}`;
  if (action === "load") {
    if (args.length !== 1)
      throw new UsageError(`load takes one file: plexus ${instance} ${tableName} load FILE`);
    const entries = await readEntries(args[0], info);
    const r = await api.post<{ added: number }>(`${path}/bulk`, entries);
    console.log(`loaded ${r.added} entries into ${instance} ${tableName}`);
    return;
  }
  const entry = parseTableArgs(args, info.key, info.value);
  if (action === "add") {
    await api.post(path, entry);
    console.log(
      `added to ${instance} ${tableName}: ${Object.entries(entry)
        .map(([k, v]) => `${k}=${cell(v)}`)
        .join(" ")}`,
    );
    return;
  }
  if (action === "del") {
    await api.delete(path, entry);
    console.log(
      `deleted from ${instance} ${tableName}: ${Object.entries(entry)
        .map(([k, v]) => `${k}=${cell(v)}`)
        .join(" ")}`,
    );
    return;
  }
  let rows = await api.get<Record<string, unknown>[]>(path);
  // `show` with fields filters: plexus br0 fdb show vlan 10
  rows = rows.filter((r) => Object.entries(entry).every(([k, v]) => String(r[k]) === String(v)));
  if (await printStructured(format, rows)) return;
  if (!rows.length) {
    console.log(`${instance} ${tableName}: no entries`);
    return;
  }
  const cols = [...info.key, ...info.value].map((f) => f.name).filter((n) => rows.some((r) => n in r));
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  console.log(
    textTable(
      cols.map((c) => c.toUpperCase()),
      rows.map((r) => cols.map((c) => cell(r[c]))),
    ),
  );
}

export function registerTableCommand(program: Command): void {
  program
    .command("table <instance> <table> [action] [args...]")
    .description("an NF's table: show (default), add or del entries; also written plexus INSTANCE TABLE ...")
    .option("-o, --output <format>", "table, json or yaml (show)")
    .addHelpText(
      "after",
      examples([
        "plexus br0 fdb show",
        "plexus br0 fdb add 02:00:00:00:00:01 port p1 vlan 10",
        "plexus br0 fdb del 02:00:00:00:00:01 vlan=10",
        "plexus r1 route add 198.18.2.0/24 via 198.18.1.2",
        "plexus r1 route show -o json",
      ]),
    )
    .action(
      async (
        instance: string,
        tableName: string,
        action: string | undefined,
        args: string[],
        o: { output?: string },
        cmd: Command,
      ) => runTableCommand(cmd, instance, tableName, action, args, o.output),
    );
}

/**
 * Entries from a file: a JSON or YAML array of objects, or one entry per line written as on the
 * command line (`198.18.2.0/24 via 198.18.1.2`); blank lines and # comments are skipped.
 */
async function readEntries(file: string, info: TableInfoJson): Promise<Record<string, unknown>[]> {
  const { readFileSync } = await import("node:fs");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  if (/\.(json|ya?ml)$/i.test(file)) {
    const { parse } = await import("yaml");
    const doc: unknown = parse(text);
    if (!Array.isArray(doc)) throw new UsageError(`${file}: expected a list of entries`);
    return doc as Record<string, unknown>[];
  }
  const out: Record<string, unknown>[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) return;
    try {
      out.push(parseTableArgs(line.split(/\s+/), info.key, info.value));
    } catch (e) {
      throw new UsageError(`${file}:${i + 1}: ${(e as Error).message}`);
    }
  });
  return out;
}
