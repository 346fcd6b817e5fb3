// Options shared by commands that open object files.
import type { Command } from "commander";
import type { OpenOptions } from "../../bpf/object/open.js";
import { UsageError } from "../errors.js";

/** --type SECTION=TYPE: program types for sections libbpf does not know (iproute2-era names). */
export const typeOption = (c: Command): Command =>
  c.option(
    "--type <section=type...>",
    "program type for a section or program the section table does not know, e.g. --type prog=xdp",
  );

export function objectOpenOptions(o: { type?: string[] }): OpenOptions {
  const programTypes: Record<string, string> = {};
  for (const t of o.type ?? []) {
    const m = /^([^=]+)=(.+)$/.exec(t);
    if (!m) throw new UsageError(`--type wants SECTION=TYPE (e.g. prog=xdp), got '${t}'`);
    programTypes[m[1]] = m[2];
  }
  return { programTypes };
}
