// The bpf_conformance test format (.data files): sections introduced by "-- name" lines.
//   -- asm      the program, in the uBPF syntax (our assembler also takes the LLVM one)
//   -- raw      the program as 64-bit words (0x... or decimal), instead of -- asm
//   -- mem      input memory, hex bytes
//   -- result   the expected r0
//   -- error    the expected error message (may be empty)
//   -- map      maps: "name type key_size value_size max_entries" per line
//   -- c, -- no register offset: notes, ignored
import { AsmError } from "../errors.js";
import { assemble } from "./asm.js";
import { decode } from "./codec.js";
import { encode } from "./codec.js";
import type { Instruction } from "./instruction.js";

export interface ConformanceMap {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

export interface ConformanceTest {
  /** The -- asm section as written (empty for -- raw programs). */
  asm: string;
  /** The program's instructions. */
  instructions: Instruction[];
  /** The program's bytes (the raw words as given for -- raw programs). */
  program: Buffer;
  /** Input memory (empty when there is no -- mem section). */
  memory: Uint8Array;
  /** Expected return value (r0) as an unsigned 64-bit number, when there is a -- result. */
  result?: bigint;
  /** Expected error text, when there is an -- error section (possibly ""). */
  error?: string;
  /** Maps of the -- map section; in assembly, map_by_fd(name) encodes the map's index here. */
  maps: ConformanceMap[];
}

type Section = "asm" | "raw" | "mem" | "result" | "error" | "map" | "ignore";

function sectionOf(header: string, line: number): Section {
  const name = header.trim().toLowerCase();
  if (name === "asm" || name === "raw" || name === "mem" || name === "result" || name === "error")
    return name;
  if (name === "map" || name === "maps") return "map";
  if (name === "c" || name === "no register offset") return "ignore";
  throw new AsmError(`unknown section '-- ${header.trim()}'`, line);
}

const parseInteger = (text: string, line: number, what: string): bigint => {
  const t = text.trim();
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(t)) throw new AsmError(`expected ${what}, found '${t}'`, line);
  return t.startsWith("-") ? -BigInt(t.slice(1)) : BigInt(t);
};

/** Parses a bpf_conformance .data file. Throws AsmError with the file's line numbers. */
export function parseConformance(text: string): ConformanceTest {
  const lines = text.split(/\r?\n/);
  let section: Section | undefined;
  const asmLines = lines.map(() => "");
  const asmText: string[] = [];
  const raw: bigint[] = [];
  const memory: number[] = [];
  const maps: ConformanceMap[] = [];
  let result: bigint | undefined;
  let error: string | undefined;

  lines.forEach((lineText, i) => {
    const line = i + 1;
    const header = /^--\s*(.*)$/.exec(lineText);
    if (header) {
      section = sectionOf(header[1], line);
      if (section === "error") error = "";
      return;
    }
    const content = lineText.replace(/#.*$/, "").trim();
    switch (section) {
      case "asm":
        asmLines[i] = lineText;
        asmText.push(lineText);
        return;
      case undefined:
      case "ignore":
        return;
    }
    if (content === "") return;
    switch (section) {
      case "raw":
        for (const w of content.split(/\s+/))
          raw.push(BigInt.asUintN(64, parseInteger(w, line, "a 64-bit word")));
        return;
      case "mem":
        for (const b of content.split(/\s+/)) {
          if (!/^(0x)?[0-9a-f]{1,2}$/i.test(b)) throw new AsmError(`expected a hex byte, found '${b}'`, line);
          memory.push(parseInt(b.replace(/^0x/i, ""), 16));
        }
        return;
      case "result":
        result = BigInt.asUintN(64, parseInteger(content, line, "the expected result"));
        return;
      case "error":
        error = lineText.trim();
        return;
      case "map": {
        const f = content.split(/\s+/);
        if (f.length !== 5 || f.slice(1).some((x) => !/^\d+$/.test(x)))
          throw new AsmError("expected: name type key_size value_size max_entries", line);
        const [type, keySize, valueSize, maxEntries] = f.slice(1).map(Number);
        maps.push({ name: f[0], type, keySize, valueSize, maxEntries });
      }
    }
  });

  let instructions: Instruction[];
  let program: Buffer;
  if (raw.length > 0) {
    program = Buffer.alloc(raw.length * 8);
    raw.forEach((w, i) => program.writeBigUInt64LE(w, i * 8));
    instructions = decode(program);
  } else {
    const mapIndex = Object.fromEntries(maps.map((m, i) => [m.name, i]));
    instructions = assemble(asmLines.join("\n"), { maps: mapIndex });
    program = encode(instructions);
  }
  const test: ConformanceTest = {
    asm: asmText.join("\n"),
    instructions,
    program,
    memory: Uint8Array.from(memory),
    maps,
  };
  if (result !== undefined) test.result = result;
  if (error !== undefined) test.error = error;
  return test;
}
