// Encoding values of global variables (constants set before load, .data/.bss read and written at
// run time) according to their BTF type.
import { ObjectFileError } from "../errors.js";
import type { Btf } from "../btf/index.js";
import type { VariableSpec } from "./spec.js";

export type VariableValue = number | bigint | boolean | string | Uint8Array;

/** Encodes `value` into exactly `v.size` bytes, checked against the variable's BTF type. */
export function encodeVariable(btf: Btf | undefined, v: VariableSpec, value: VariableValue): Buffer {
  const out = Buffer.alloc(v.size);
  const fail = (why: string) => new ObjectFileError(`variable '${v.name}' (${v.size} bytes): ${why}`);
  if (value instanceof Uint8Array) {
    if (value.length !== v.size) throw fail(`got ${value.length} bytes`);
    out.set(value);
    return out;
  }
  const t = btf && v.typeId ? btf.resolve(v.typeId) : undefined;
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    if (t && t.kind !== "array") throw fail(`a string needs a char array, the variable is ${t.kind}`);
    if (bytes.length >= v.size) throw fail(`string of ${bytes.length} bytes does not fit with its NUL`);
    bytes.copy(out);
    return out;
  }
  if (t && t.kind !== "int" && t.kind !== "enum" && t.kind !== "enum64" && t.kind !== "ptr")
    throw fail(`a number needs an integer or enum variable, this one is ${t.kind}`);
  const n = typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value);
  const signed = t?.kind === "int" || t?.kind === "enum" || t?.kind === "enum64" ? t.signed : false;
  const bits = BigInt(v.size * 8);
  if (![1, 2, 4, 8].includes(v.size)) throw fail(`not an integer-sized variable`);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (n < min || n > max) throw fail(`${n} is out of range [${min}, ${max}]`);
  const u = BigInt.asUintN(v.size * 8, n);
  if (v.size === 8) out.writeBigUInt64LE(u);
  else out.writeUIntLE(Number(u), 0, v.size);
  return out;
}
