// Child process for the harness test: builds namespaces, a bpffs and a helper process, reports
// them on stdout, then ends the way argv[2] says ("wait" for a signal, "exit", "throw", "reject").
import { mountBpffs } from "../../../src/testbed/bpffs.js";
import { spawn, twoHosts } from "../../../src/testbed/netns.js";

const how = process.argv[2] ?? "wait";
const topo = await twoHosts();
const fs = mountBpffs();
const sleeper = spawn(topo.a.ns, "sleep", ["60"]);
process.stdout.write(
  JSON.stringify({ namespaces: topo.namespaces, bpffs: fs.path, sleeper: sleeper.pid }) + "\n",
);

if (how === "exit") process.exit(0);
if (how === "throw")
  setTimeout(() => {
    throw new Error("boom");
  }, 10);
if (how === "reject") void Promise.reject(new Error("boom"));
setInterval(() => {}, 1000);
