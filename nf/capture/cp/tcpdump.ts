// Filter expressions in tcpdump's language, compiled by tcpdump itself (libpcap's compiler and
// optimizer) into classic BPF: `tcpdump -y EN10MB -s SNAPLEN -ddd -- EXPRESSION`. With -d tcpdump
// opens no interface (a "dead" Ethernet handle), so the program reads everything from the packet
// bytes and uses none of the kernel's ancillary loads.
import { execFile } from "node:child_process";
import { checkProgram, FilterError, parseDecimal, type CbpfInsn } from "./cbpf.js";

/** Longest expression accepted (tcpdump itself has no limit; the compiled program has one). */
export const MAX_EXPRESSION = 8192;
/** tcpdump's default snap length, and the largest it accepts. */
export const MAX_SNAPLEN = 262144;

export interface CompiledFilter {
  expression: string;
  snaplen: number;
  program: CbpfInsn[];
}

const TIMEOUT_MS = 10_000;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      "tcpdump",
      args,
      { timeout: TIMEOUT_MS, maxBuffer: 4 << 20, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
          reject(
            new FilterError(
              "tcpdump is not installed: it compiles filter expressions (apt-get install tcpdump)",
            ),
          );
        else if (err && err.killed)
          reject(new FilterError(`tcpdump took more than ${TIMEOUT_MS / 1000} s to compile the filter`));
        else resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The error tcpdump printed, without its "tcpdump: " prefix and warnings. */
function tcpdumpError(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.replace(/^tcpdump:\s*/, "").trim())
    .filter((l) => l && !/^Warning:/i.test(l));
  return lines.join("; ") || "tcpdump failed without a message";
}

export function checkSnaplen(snaplen: number): void {
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > MAX_SNAPLEN)
    throw new FilterError(`snap length ${snaplen}: give a whole number of bytes from 1 to ${MAX_SNAPLEN}`);
}

/**
 * Compiles `expression` ("" selects every packet) into classic BPF whose accepting returns are
 * `snaplen`. Throws FilterError with tcpdump's own explanation when the expression is wrong.
 */
export async function compileExpression(expression: string, snaplen = MAX_SNAPLEN): Promise<CompiledFilter> {
  checkSnaplen(snaplen);
  if (expression.length > MAX_EXPRESSION)
    throw new FilterError(
      `filter expression of ${expression.length} characters: at most ${MAX_EXPRESSION} are accepted`,
    );
  // "--": an expression that starts with "-" is an expression, never an option.
  const r = await run(["-y", "EN10MB", "-s", String(snaplen), "-ddd", "--", expression]);
  if (r.code !== 0) throw new FilterError(`filter '${expression}': ${tcpdumpError(r.stderr)}`);
  let program: CbpfInsn[];
  try {
    program = parseDecimal(r.stdout);
    checkProgram(program);
  } catch (e) {
    if (e instanceof FilterError) throw new FilterError(`filter '${expression}': ${e.message}`);
    throw e;
  }
  return { expression, snaplen, program };
}
