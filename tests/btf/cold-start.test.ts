// What a fresh process pays to load an object: the loader's imports must not drag in modules it
// does not need on that path (node:fs's streams, node:net, node:zlib, the assemblers), and
// koffi is loaded without its entry point.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const dist = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const loader = join(dist, "src", "bpf", "object", "object.js");

/** Runs an ES module snippet in a fresh Node process and parses the JSON it prints. */
function fresh<T>(code: string): T {
  return JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", code]).toString()) as T;
}

test("a fresh process importing the loader loads no stream, net or zlib modules, nor koffi's entry point", () => {
  const loaded = fresh<{ internal: string[]; required: string[] }>(`
    import { createRequire } from "node:module";
    const before = new Set(process.moduleLoadList);
    await import(${JSON.stringify(loader)});
    const { native } = await import(${JSON.stringify(join(dist, "src", "bpf", "sys", "native.js"))});
    native();
    const required = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify({ internal: process.moduleLoadList.filter((m) => !before.has(m)), required }));
  `);
  assert.deepEqual(
    loaded.internal.filter((m) => /stream|\bnet\b|zlib/.test(m)),
    [],
  );
  assert.ok(
    loaded.required.some((m) => m.endsWith("koffi.node")),
    "the backend came up",
  );
  assert.deepEqual(
    loaded.required.filter((m) => /koffi[/\\]index/.test(m)),
    [],
  );
});

/** Every module the file statically imports, transitively (relative imports only). */
function importGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const src = readFileSync(file, "utf8");
  for (const m of src.matchAll(/^(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"/gms))
    importGraph(resolve(dirname(file), m[1]), seen);
  return seen;
}

test("the loader's import graph leaves out the assemblers and disassembler", () => {
  const graph = [...importGraph(loader)].map((f) => f.slice(dist.length + 1));
  assert.ok(graph.includes("src/bpf/btf/btf.js") && graph.includes("src/bpf/insn/codec.js"));
  assert.deepEqual(
    graph.filter((f) => /insn\/(index|asm|builder|disasm|conformance)/.test(f)),
    [],
  );
});
