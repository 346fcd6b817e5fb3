// Kconfig externs (`extern int CONFIG_X __kconfig;`): their layout in the .kconfig map, following
// libbpf (sorted by alignment descending, size ascending, then name), and their values read
// from the running kernel's config (/boot/config-$(uname -r) or /proc/config.gz).
import { existsSync, readFileSync } from "../sys/fs.js";
import { release } from "node:os";
import { createRequire } from "node:module";
import { ObjectFileError } from "../errors.js";
import type { Btf } from "../btf/index.js";
import type { KconfigExtern } from "./spec.js";

function kcfgKind(btf: Btf, typeId: number): { kind: KconfigExtern["kind"]; signed: boolean } | undefined {
  const t = btf.resolve(typeId);
  switch (t.kind) {
    case "int":
      if (t.bool) return t.size === 1 ? { kind: "bool", signed: false } : undefined;
      if (t.size === 1) return { kind: "char", signed: t.signed };
      if (![2, 4, 8].includes(t.size)) return undefined;
      return { kind: "int", signed: t.signed };
    case "enum":
    case "enum64":
      return t.name === "libbpf_tristate" ? { kind: "tristate", signed: false } : undefined;
    case "array": {
      const elem = kcfgKind(btf, t.type);
      if (t.nelems === 0 || elem?.kind !== "char") return undefined;
      return { kind: "char-array", signed: false };
    }
    default:
      return undefined;
  }
}

/**
 * The kconfig externs with their place in the .kconfig map, read from the object's .kconfig
 * DATASEC after fixupDatasecs() laid it out the way libbpf does.
 */
export function kconfigExterns(
  btf: Btf,
  weak: ReadonlySet<string>,
  file: string,
): { externs: KconfigExtern[]; size: number } {
  const ds = btf.typesByName(".kconfig").find((t) => t.kind === "datasec");
  if (ds?.kind !== "datasec") return { externs: [], size: 0 };
  const externs = ds.vars.map((vsi): KconfigExtern => {
    const v = btf.typeById(vsi.type);
    if (v.kind !== "var") throw new ObjectFileError(`.kconfig holds a ${v.kind}, not a variable`, file);
    const k = kcfgKind(btf, v.type);
    if (!k)
      throw new ObjectFileError(
        `extern (kconfig) '${v.name}': type is not supported (use bool, tristate, char, integers or char arrays)`,
        file,
      );
    return {
      name: v.name,
      offset: vsi.offset,
      size: vsi.size,
      weak: weak.has(v.name),
      kind: k.kind,
      signed: k.signed,
    };
  });
  return { externs, size: ds.size };
}

/** KERNEL_VERSION(a, b, c) of the running kernel, with libbpf's clamping of the sublevel. */
export function linuxKernelVersion(rel = release()): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(rel);
  if (!m) return 0;
  return (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255);
}

let kernelConfig: Map<string, string> | undefined;

/** The running kernel's configuration as CONFIG_NAME -> value text. */
export function readKernelConfig(): Map<string, string> {
  if (kernelConfig) return kernelConfig;
  const boot = `/boot/config-${release()}`;
  let text = "";
  if (existsSync(boot)) text = readFileSync(boot, "utf8");
  else if (existsSync("/proc/config.gz")) {
    // node:zlib (and the streams behind it) is loaded only here, not by every cold start.
    const zlib = createRequire(import.meta.url)("node:zlib") as typeof import("node:zlib");
    text = zlib.gunzipSync(readFileSync("/proc/config.gz")).toString("utf8");
  }
  // `CONFIG_NAME=value` lines; scanned with indexOf, as a regular expression per line costs a
  // cold start tens of milliseconds over the config's thousands of lines.
  const cfg = new Map<string, string>();
  for (let at = 0; at < text.length;) {
    let end = text.indexOf("\n", at);
    if (end < 0) end = text.length;
    if (text.startsWith("CONFIG_", at)) {
      const eq = text.indexOf("=", at);
      if (eq > at && eq < end) cfg.set(text.slice(at, eq), text.slice(eq + 1, end));
    }
    at = end + 1;
  }
  kernelConfig = cfg;
  return cfg;
}

function writeInt(buf: Buffer, e: KconfigExtern, v: bigint, file: string): void {
  const bits = BigInt(e.size * 8);
  const ok = e.signed ? v >= -(1n << (bits - 1n)) && v < 1n << (bits - 1n) : v >= 0n && v < 1n << bits;
  if (!ok)
    throw new ObjectFileError(
      `extern (kconfig) '${e.name}': value ${v} does not fit in ${e.size} bytes`,
      file,
    );
  if (e.size === 8) buf.writeBigUInt64LE(BigInt.asUintN(64, v), e.offset);
  else buf.writeUIntLE(Number(BigInt.asUintN(e.size * 8, v)), e.offset, e.size);
}

/** The initial contents of the .kconfig map. Missing strong externs are errors; weak ones stay 0. */
export function kconfigData(
  externs: readonly KconfigExtern[],
  size: number,
  file: string,
  config: Map<string, string> = readKernelConfig(),
): Buffer {
  const buf = Buffer.alloc(size);
  for (const e of externs) {
    let value: string | undefined;
    if (e.name === "LINUX_KERNEL_VERSION") value = String(linuxKernelVersion());
    else if (e.name === "LINUX_HAS_BPF_COOKIE" || e.name === "LINUX_HAS_SYSCALL_WRAPPER") value = "y";
    else value = config.get(e.name);
    if (value === undefined) {
      if (e.weak) continue;
      throw new ObjectFileError(
        `extern (kconfig) '${e.name}' is not set in this kernel's config; declare it __weak to default to 0`,
        file,
      );
    }
    const tri = value === "y" || value === "n" || value === "m";
    if (tri) {
      if (e.kind === "bool") {
        if (value === "m")
          throw new ObjectFileError(`extern (kconfig) '${e.name}': value 'm' needs a tristate`, file);
        buf[e.offset] = value === "y" ? 1 : 0;
      } else if (e.kind === "tristate")
        buf.writeUInt32LE(value === "y" ? 1 : value === "m" ? 2 : 0, e.offset);
      else if (e.kind === "char") buf[e.offset] = value.charCodeAt(0);
      else
        throw new ObjectFileError(
          `extern (kconfig) '${e.name}': value '${value}' needs bool, tristate or char`,
          file,
        );
    } else if (value.startsWith('"')) {
      if (e.kind !== "char-array")
        throw new ObjectFileError(`extern (kconfig) '${e.name}': a string value needs a char array`, file);
      const s = Buffer.from(value.slice(1, -1)).subarray(0, e.size - 1);
      s.copy(buf, e.offset);
    } else {
      if (e.kind !== "int" && e.kind !== "char")
        throw new ObjectFileError(`extern (kconfig) '${e.name}': '${value}' needs an integer type`, file);
      let v: bigint;
      try {
        v = BigInt(value);
      } catch {
        throw new ObjectFileError(`extern (kconfig) '${e.name}': '${value}' is not an integer`, file);
      }
      writeInt(buf, e, v, file);
    }
  }
  return buf;
}
