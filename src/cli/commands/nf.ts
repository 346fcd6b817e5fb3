// plexus nf list|show|install|remove: network-function types.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import type { NfTypeJson } from "../../api/schemas.js";
import { seg } from "../../api/client.js";
import { UsageError } from "../errors.js";
import { table } from "../output.js";
import { outputFormat, printStructured } from "../render.js";
import { apiClient, examples } from "./client.js";

/** Builds a package directory when it has C sources, and packs it as tar.gz. */
async function packDirectory(dir: string): Promise<Buffer> {
  if (!existsSync(join(dir, "nf.yaml")))
    throw new UsageError(`${dir} has no nf.yaml: it is not an NF package`);
  if (existsSync(join(dir, "dataplane.c"))) {
    const { buildNfPackage } = await import("../../build/build-nf.js");
    await buildNfPackage(dir);
  }
  return execFileSync("tar", ["-czf", "-", "--exclude=./node_modules", "--exclude=./.git", "-C", dir, "."], {
    maxBuffer: 256 << 20,
  });
}

function schemaText(s: Record<string, unknown> | undefined): string[] {
  const props = (s?.properties ?? {}) as Record<
    string,
    { type?: string; default?: unknown; description?: string }
  >;
  return Object.entries(props).map(
    ([k, p]) =>
      `  ${k}${p.type ? ` (${p.type})` : ""}${p.default !== undefined ? ` default ${JSON.stringify(p.default)}` : ""}${p.description ? `: ${p.description}` : ""}`,
  );
}

export function registerNfCommands(program: Command): void {
  const nf = program
    .command("nf")
    .description("network-function types: list, show, install, remove")
    .addHelpText(
      "after",
      examples([
        "plexus nf list",
        "plexus nf show bridge",
        "plexus nf install ./my-nf",
        "plexus nf remove my-nf",
      ]),
    );

  nf.command("list")
    .alias("ls")
    .description("installed NF types (built-in and installed), every version")
    .option("-o, --output <format>", "table, json or yaml")
    .action(async (o: { output?: string }, cmd: Command) => {
      const format = outputFormat(o.output);
      const list = await apiClient(cmd).get<NfTypeJson[]>("/v1/nf");
      if (await printStructured(format, list)) return;
      console.log(
        table(
          ["NAME", "VERSION", "KIND", "HOOKS", "SOURCE", "INSTANCES", "DESCRIPTION"],
          list.map((t) => [
            t.name,
            t.version,
            t.kind,
            t.hooks.join(","),
            t.builtin ? "built-in" : "installed",
            t.instances.join(",") || "-",
            t.description.split(/\.\s/)[0].replace(/\.$/, ""),
          ]),
        ),
      );
    });

  nf.command("show <type>")
    .description("an NF type: description, configuration, port configuration, tables")
    .option("--version <v>", "a version other than the newest")
    .option("-o, --output <format>", "table, json or yaml")
    .action(async (type: string, o: { version?: string; output?: string }, cmd: Command) => {
      const format = outputFormat(o.output);
      const t = await apiClient(cmd).get<NfTypeJson>(`/v1/nf/${seg(type)}`, { version: o.version });
      if (await printStructured(format, t)) return;
      const lines = [
        `${t.name} ${t.version} (${t.kind}, hooks ${t.hooks.join(", ")}, ${t.builtin ? "built-in" : "installed"})`,
        t.description.trim(),
      ];
      if (t.kind === "standard") lines.push(`ports: up to ${t.maxPorts}`);
      const cfg = schemaText(t.config);
      lines.push(
        "",
        cfg.length ? "configuration (plexus create ... key=value):" : "configuration: none",
        ...cfg,
      );
      const pcfg = schemaText(t.portConfig);
      if (pcfg.length) lines.push("", "port configuration (plexus port add ... key=value):", ...pcfg);
      const tables = Object.entries(t.tables);
      if (tables.length)
        lines.push(
          "",
          "tables:",
          ...tables.map(
            ([n, s]) =>
              `  ${n}${s.writable ? "" : " (read-only)"}${s.description ? `: ${s.description.trim()}` : ""}`,
          ),
        );
      lines.push("", `instances: ${t.instances.join(", ") || "none"}`);
      console.log(lines.join("\n"));
    });

  nf.command("install <path>")
    .description("install an NF type from a package directory (built first if it has C sources) or a .tar.gz")
    .addHelpText(
      "after",
      examples(["plexus nf install ./nf/myfilter", "plexus nf install myfilter-1.0.0.tar.gz"]),
    )
    .action(async (path: string, _o, cmd: Command) => {
      const p = resolve(path);
      if (!existsSync(p)) throw new UsageError(`${path} does not exist`);
      const archive = statSync(p).isDirectory() ? await packDirectory(p) : readFileSync(p);
      const contentType = /\.(tar)$/.test(p) ? "application/x-tar" : "application/gzip";
      const t = await apiClient(cmd).call<NfTypeJson>("POST", "/v1/nf", { raw: archive, contentType });
      console.log(
        `installed ${t.name} ${t.version} (${t.kind}); create one with: plexus create ${t.name} NAME`,
      );
    });

  nf.command("remove <type>")
    .alias("rm")
    .description("remove an installed NF type (every version unless --version); built-ins stay")
    .option("--version <v>", "remove only this version")
    .action(async (type: string, o: { version?: string }, cmd: Command) => {
      await apiClient(cmd).delete(`/v1/nf/${seg(type)}`, undefined, { version: o.version });
      console.log(`removed ${type}${o.version ? ` ${o.version}` : ""}`);
    });
}
