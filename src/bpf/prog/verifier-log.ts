// Turning a verifier log into a VerifierError a person can act on: the failing instruction, the
// verifier's complaint, and the end of the log (where the path that failed is described).
import { VerifierError } from "../errors.js";
import { errnoName } from "../sys/errno.js";

/** `12: (61) r2 = *(u32 *)(r1 +100)`: an instruction line (state-only lines have no opcode). */
const INSN_LINE = /^(\d+): \(([0-9a-f]{2})\) (.*)$/;
const TAIL_LINES = 20;

/** Statistics lines the verifier appends after the verdict. */
const isTrailer = (l: string): boolean =>
  /^processed \d+ insns/.test(l) || /^verification time/.test(l) || /^stack depth/.test(l);

export interface ParsedVerifierLog {
  /** Index of the failing instruction (slot index, as the verifier counts), when the log names one. */
  instruction?: number;
  /** The failing instruction as the verifier printed it. */
  instructionText?: string;
  /** What the verifier objected to. */
  complaint: string;
  /** The last lines of the log. */
  tail: string[];
}

export function parseVerifierLog(log: string): ParsedVerifierLog {
  const lines = log.replace(/\0+$/, "").split("\n");
  while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
  let last = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (INSN_LINE.test(lines[i])) {
      last = i;
      break;
    }
  }
  const after = lines.slice(last + 1).filter((l) => l.trim() !== "" && !isTrailer(l));
  let complaint: string;
  if (last >= 0 && after.length) complaint = after.slice(0, 4).join("\n");
  else {
    // No instruction named (e.g. a BTF or attach problem): the last meaningful lines are the reason.
    const meaningful = lines.filter((l) => l.trim() !== "" && !isTrailer(l));
    complaint = meaningful.slice(-2).join("\n");
  }
  const m = last >= 0 ? INSN_LINE.exec(lines[last]) : null;
  return {
    instruction: m ? Number(m[1]) : undefined,
    instructionText: m ? `(${m[2]}) ${m[3].replace(/\s+;.*$/, "")}` : undefined,
    complaint,
    tail: lines.slice(-TAIL_LINES),
  };
}

/** The error for a program the verifier rejected. */
export function verifierError(program: string, errno: number, log: string): VerifierError {
  const p = parseVerifierLog(log);
  const where =
    p.instruction !== undefined ? ` at instruction ${p.instruction}: ${p.instructionText ?? ""}` : "";
  const indent = (s: string): string =>
    s
      .split("\n")
      .map((l) => `  ${l}`)
      .join("\n");
  const message =
    `program ${program || "(unnamed)"} rejected by the verifier (${errnoName(errno)})${where}\n` +
    `${indent(p.complaint || "(the verifier gave no reason)")}\n` +
    `verifier log, last ${p.tail.length} lines:\n${indent(p.tail.join("\n"))}`;
  return new VerifierError(program, errno, log, p.instruction, message);
}
