// tcpdump as the oracle: which frames of a corpus does `tcpdump -r FILE EXPRESSION` select?
// (libpcap's own compiler and interpreter, on the very bytes our filters see.)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pcapHeader, pcapRecord } from "../../../nf/capture/cp/pcap.js";
import { readPcap } from "../../../src/vm/io/pcap.js";
import { run } from "../../../src/testbed/netns.js";

export class TcpdumpOracle {
  readonly dir = mkdtempSync(join(tmpdir(), "px-capture-oracle-"));
  readonly file = join(this.dir, "corpus.pcap");

  constructor(readonly frames: readonly Buffer[]) {
    const parts = [pcapHeader(65535)];
    frames.forEach((f, i) =>
      parts.push(pcapRecord(1_700_000_000_000_000_000n + BigInt(i) * 1000n, f, f.length)),
    );
    writeFileSync(this.file, Buffer.concat(parts));
  }

  /** Indexes of the frames tcpdump selects with `expression`. */
  private n = 0;

  async select(expression: string): Promise<number[]> {
    const out = join(this.dir, `out${this.n++}.pcap`);
    await run("tcpdump", ["-r", this.file, "-w", out, "--", expression], { timeoutMs: 20_000 });
    const byBytes = new Map<string, number[]>();
    this.frames.forEach((f, i) =>
      byBytes.set(f.toString("hex"), [...(byBytes.get(f.toString("hex")) ?? []), i]),
    );
    const picked: number[] = [];
    for (const p of readPcap(readFileSync(out))) {
      const ids = byBytes.get(p.data.toString("hex"));
      if (!ids?.length) throw new Error("tcpdump wrote a frame that is not in the corpus");
      picked.push(ids.shift() as number);
    }
    return picked.sort((a, b) => a - b);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
