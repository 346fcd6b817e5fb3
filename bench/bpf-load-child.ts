// Child of bench/bpf-load.ts: loads each object given on the command line once, then exits.
import { BpfObject } from "../src/bpf/object/object.js";

const [pinRoot, ...objs] = process.argv.slice(2);
for (const o of objs) (await BpfObject.open(o).load({ pinRoot, pinPolicy: "replace" })).close();
