// The bpf_conformance plugin protocol: the program as hex bytes (stdin), the input memory as hex
// bytes (first argument), r0 printed in hex on success, a message and a non-zero exit on error.
// Programs run as uBPF runs them: r1 points at the memory, r2 holds its length, the test helpers
// 0..5 are available and unreachable code is accepted.
import { PlexusBpfError } from "../bpf/errors.js";
import { decode } from "../bpf/insn/codec.js";
import { conformanceHelpers } from "./helpers/conformance.js";
import "./jit/engine.js";
import type { EngineName } from "./vm.js";
import { Vm } from "./vm.js";

/** Bytes from hex text: space-separated bytes ("b7 00 ..."), or one run of hex digits. */
export function parseHexBytes(text: string): Uint8Array {
  const tokens = text
    .trim()
    .split(/[\s,]+/)
    .filter(Boolean);
  if (tokens.length === 1 && tokens[0].replace(/^0x/i, "").length > 2) {
    const t = tokens[0].replace(/^0x/i, "");
    if (!/^([0-9a-f]{2})*$/i.test(t))
      throw new PlexusBpfError(`'${text.trim().slice(0, 40)}' is not hex bytes`);
    return Buffer.from(t, "hex");
  }
  return Uint8Array.from(
    tokens.map((b) => {
      if (!/^(0x)?[0-9a-f]{1,2}$/i.test(b)) throw new PlexusBpfError(`'${b}' is not a hex byte`);
      return parseInt(b.replace(/^0x/i, ""), 16);
    }),
  );
}

/** Loads and runs one conformance program; returns r0 or throws a PlexusBpfError. */
export function runConformance(program: Uint8Array, memory: Uint8Array, engine: EngineName): bigint {
  const vm = new Vm({ engine });
  const prog = vm.loadProgram(decode(program), {
    name: "conformance",
    helpers: conformanceHelpers,
    allowUnreachable: true,
  });
  return prog.run({ memory }).r0;
}
