// Compiles eBPF C sources with the project's flags: build-bpf FILE.c [-I DIR] [-o OUT]
import { parseArgs } from "node:util";
import { CompileError, compileBpf } from "../src/build/compile-bpf.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    include: { type: "string", short: "I", multiple: true },
    output: { type: "string", short: "o" },
  },
});
if (positionals.length === 0) {
  console.error("usage: build-bpf FILE.c... [-I DIR] [-o OUT]");
  process.exit(2);
}
for (const src of positionals) {
  try {
    console.log(await compileBpf(src, { includeDirs: values.include, output: values.output }));
  } catch (e) {
    console.error(e instanceof CompileError ? e.message : e);
    process.exit(1);
  }
}
