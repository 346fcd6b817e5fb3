// The one way plexus compiles eBPF C: one set of flags, cached by the content of the source and
// every header it reaches, so repeated builds and test runs do not recompile.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { arch } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Root of the plexus checkout (dist/src/build/ -> ../../.., src/build -> ../..). */
export const projectRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return dir;
})();

export const cacheDir = process.env.PLEXUS_CACHE_DIR ?? join(projectRoot, ".cache");

const multiarch = arch() === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
const TARGET_ARCH = arch() === "arm64" ? "arm64" : "x86";

/** The flags every eBPF object of plexus is built with. */
export const BPF_CFLAGS = [
  "-O2",
  "-g",
  "-target",
  "bpf",
  `-D__TARGET_ARCH_${TARGET_ARCH}`,
  "-Wall",
  "-Wno-unused-function",
  `-I/usr/include/${multiarch}`,
];

export interface CompileOptions {
  /** Extra include directories (searched before the system ones). */
  includeDirs?: string[];
  /** Preprocessor definitions: -DNAME=VALUE. */
  defines?: Record<string, string | number>;
  /** Also copy the object here (it is always kept in the content-addressed cache). */
  output?: string;
  /** Extra clang flags (for fixtures that test a specific compiler feature). */
  extraFlags?: string[];
}

export class CompileError extends Error {
  override name = "CompileError";
  constructor(
    readonly source: string,
    readonly stderr: string,
  ) {
    super(`clang failed on ${source}:\n${stderr.trim()}`);
  }
}

let clangVersion: Promise<string> | undefined;
const getClangVersion = () => (clangVersion ??= run("clang", ["--version"]).then((r) => r.stdout));

const INCLUDE_RE = /^\s*#\s*include\s*[<"]([^>"]+)[>"]/gm;

/** Hashes a file and, recursively, every header it includes that can be found. */
function hashTree(
  file: string,
  searchDirs: string[],
  hash: ReturnType<typeof createHash>,
  seen: Set<string>,
) {
  if (seen.has(file)) return;
  seen.add(file);
  const text = readFileSync(file);
  hash.update(file).update("\0").update(text);
  for (const m of text.toString("latin1").matchAll(INCLUDE_RE)) {
    const name = m[1];
    for (const dir of [dirname(file), ...searchDirs]) {
      const p = join(dir, name);
      if (existsSync(p) && statSync(p).isFile()) {
        hashTree(p, searchDirs, hash, seen);
        break;
      }
    }
  }
}

/** Generates (once per kernel) a vmlinux.h for CO-RE programs and returns its directory. */
export async function vmlinuxIncludeDir(): Promise<string> {
  const btf = "/sys/kernel/btf/vmlinux";
  const id = createHash("sha256").update(readFileSync(btf)).digest("hex").slice(0, 16);
  const dir = join(cacheDir, "vmlinux", id);
  const header = join(dir, "vmlinux.h");
  if (!existsSync(header)) {
    mkdirSync(dir, { recursive: true });
    const { stdout } = await run("bpftool", ["btf", "dump", "file", btf, "format", "c"], {
      maxBuffer: 256 << 20,
    });
    const tmp = `${header}.${process.pid}.tmp`;
    writeFileSync(tmp, stdout);
    renameSync(tmp, header);
  }
  return dir;
}

/** Compiles one eBPF C file and returns the path of the object. */
export async function compileBpf(source: string, opts: CompileOptions = {}): Promise<string> {
  const src = resolve(source);
  const includeDirs = (opts.includeDirs ?? []).map((d) => resolve(d));
  const defines = Object.entries(opts.defines ?? {}).map(([k, v]) => `-D${k}=${v}`);
  const flags = [...BPF_CFLAGS, ...includeDirs.map((d) => `-I${d}`), ...defines, ...(opts.extraFlags ?? [])];

  const hash = createHash("sha256");
  hash.update(await getClangVersion()).update(flags.join("\0"));
  hashTree(src, [...includeDirs, `/usr/include/${multiarch}`, "/usr/include"], hash, new Set());
  const digest = hash.digest("hex").slice(0, 24);

  const name = src.replace(/^.*\//, "").replace(/\.c$/, "");
  const out = join(cacheDir, "bpf", `${name}-${digest}.o`);
  if (!existsSync(out)) await clang(src, flags, out);
  if (opts.output === undefined) return out;
  mkdirSync(dirname(resolve(opts.output)), { recursive: true });
  copyFileSync(out, opts.output);
  return resolve(opts.output);
}

async function clang(src: string, flags: string[], out: string): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  try {
    await run("clang", [...flags, "-c", src, "-o", tmp], { maxBuffer: 16 << 20 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new CompileError(src, err.stderr || err.message);
  }
  renameSync(tmp, out); // atomic: concurrent builds of the same source agree
}
