// npm run demo: a throw-away network namespace pair, an XDP program from plexus/bpf attached to
// one end, real pings through it, and the counters the program collected. Ctrl-C tears down.
import { attachXdp } from "../src/bpf/link/index.js";
import { BpfObject } from "../src/bpf/object/object.js";
import { compileBpf, projectRoot } from "../src/build/compile-bpf.js";
import { ping, twoHosts, withNetns } from "../src/testbed/netns.js";
import { table } from "../src/cli/output.js";
import { join } from "node:path";

const CLASSES = ["IPv4", "IPv6", "ARP", "other"];

if (process.getuid?.() !== 0) {
  console.error("plexus demo: needs root (network namespaces and bpf(2)); run it as root");
  process.exit(1);
}

const say = (s: string) => console.log(`plexus demo: ${s}`);
// The counter program is also a test fixture: one source for both.
const obj = await compileBpf(join(projectRoot, "tests", "fixtures", "obj_xdp_counter.c"));
const net = await twoHosts();
try {
  say(
    `namespaces ${net.a.ns} (${net.a.ipv4}, ${net.a.ipv6}) <-veth-> ${net.b.ns} (${net.b.ipv4}, ${net.b.ipv6})`,
  );
  const loaded = await BpfObject.open(obj).load();
  const prog = loaded.program("xdp_count");
  const link = withNetns(net.b.ns, () => attachXdp(prog, net.b.ifname, { mode: "native" }));
  say(
    `XDP program xdp_count (id ${prog.id}) attached to ${net.b.ifname} in native mode (BPF link ${link.id})`,
  );

  const v4 = await ping(net.a.ns, net.b.ipv4, { count: 5, interval: 0.05 });
  const v6 = await ping(net.a.ns, net.b.ipv6, { count: 5, interval: 0.05 });
  say(
    `ping ${net.b.ipv4}: ${v4.received}/${v4.transmitted} replies; ping ${net.b.ipv6}: ${v6.received}/${v6.transmitted} replies`,
  );

  const key = Buffer.alloc(4);
  const rows = CLASSES.map((name, i) => {
    key.writeUInt32LE(i);
    const perCpu = loaded.map("counters").lookupPerCpu(key) ?? [];
    const packets = perCpu.reduce((s, v) => s + v.readBigUInt64LE(0), 0n);
    const bytes = perCpu.reduce((s, v) => s + v.readBigUInt64LE(8), 0n);
    return [name, packets.toString(), bytes.toString()];
  });
  say(
    `packets the program saw arriving on ${net.b.ifname} (summed over ${loaded.map("counters").lookupPerCpu(key)?.length} CPUs):`,
  );
  console.log(table(["CLASS", "PACKETS", "BYTES"], rows));
  link.close();
  loaded.close();
} finally {
  net.cleanup();
  say("namespaces removed");
}
