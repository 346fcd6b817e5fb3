// Text assembler. Accepts, line by line and freely mixed:
//  - the syntax llvm-objdump prints and llvm-mc assembles (r0 = *(u32 *)(r1 + 4), if w1 == w2 goto L),
//    including whole llvm-objdump listings (addresses, raw bytes, <sym> annotations, headers);
//  - the uBPF / bpf_conformance mnemonics (mov32 %r0, 1; ldxw r0, [r1+4]; jeq r1, 5, +2);
// with labels (`name:`), comments (; # // /* */) and assembler directives (.text) ignored.
import { AsmError } from "../errors.js";
import type { ParseContext } from "./asm-common.js";
import { Cursor, tokenize } from "./asm-lexer.js";
import { parseLlvm } from "./asm-llvm.js";
import { isUbpfLine, parseUbpf } from "./asm-ubpf.js";
import type { Instruction } from "./instruction.js";
import type { LocatedItem } from "./labels.js";
import { resolveLabels } from "./labels.js";

export interface AsmOptions extends ParseContext {
  /** Force one syntax; by default each line is recognised on its own. */
  syntax?: "auto" | "llvm" | "ubpf";
}

const OBJDUMP_LINE = /^\s*\d+:\t(?:(?:[0-9a-f]{2} )*[0-9a-f]{2}\t)?(.*)$/;
const OBJDUMP_HEADER = /^[0-9a-f]{16} <([^>]+)>:$/;
const OBJDUMP_NOISE = /^(?:Disassembly of section .*:|.*:\s+file format .*|\s+[0-9a-f]{16}:\s+R_\w+\s.*)$/;
const LABEL = /^\s*([A-Za-z_.$][\w.$]*)\s*:(?!=)/;

function stripComments(line: string): string {
  return line
    .replace(/\/\*.*?\*\//g, " ")
    .replace(/(\/\/|#|;).*$/, "")
    .trim();
}

/** Splits one source line into labels and the instruction text (possibly empty). */
function preprocess(raw: string, line: number): { labels: string[]; text: string } {
  const labels: string[] = [];
  const header = OBJDUMP_HEADER.exec(raw.trim());
  if (header) return { labels: [header[1]], text: "" };
  if (OBJDUMP_NOISE.test(raw)) return { labels, text: "" };
  let text = raw;
  const dumped = OBJDUMP_LINE.exec(raw);
  if (dumped) {
    text = dumped[1].replace(/\s+<[^<>]*>\s*$/, "");
    if (text.trim() === "<unknown>")
      throw new AsmError("llvm-objdump could not decode this instruction", line);
  }
  text = stripComments(text);
  for (let m = LABEL.exec(text); m; m = LABEL.exec(text)) {
    labels.push(m[1]);
    text = text.slice(m[0].length).trim();
  }
  if (text.startsWith(".")) text = ""; // assembler directive
  return { labels, text };
}

/** Assembles source text into instructions, resolving labels. Throws AsmError with the line number. */
export function assemble(source: string, opts: AsmOptions = {}): Instruction[] {
  const entries: LocatedItem[] = [];
  source.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const { labels, text } = preprocess(raw, line);
    for (const l of labels) entries.push({ item: { label: l }, line });
    if (text === "") return;
    const c = new Cursor(tokenize(text, line), line);
    const ubpf = opts.syntax === "ubpf" || ((opts.syntax ?? "auto") === "auto" && isUbpfLine(c));
    const parsed = ubpf ? parseUbpf(c, opts) : parseLlvm(c, opts);
    entries.push({ ...parsed, line });
  });
  return resolveLabels(entries);
}
