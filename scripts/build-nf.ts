// Builds the data-plane framework and every network function under nf/ (part of `npm run build`).
import { readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../src/build/compile-bpf.js";
import { buildFramework, buildNfPackage } from "../src/build/build-nf.js";

await buildFramework();
const nfRoot = join(projectRoot, "nf");
for (const name of readdirSync(nfRoot)) {
  const dir = join(nfRoot, name);
  if (!existsSync(join(dir, "nf.yaml"))) continue;
  try {
    await buildNfPackage(dir);
  } catch (e) {
    console.error(`build-nf: ${name}: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
