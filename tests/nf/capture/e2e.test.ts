// `plexus capture` at a bridge port, against a real daemon in throw-away namespaces with real
// traffic (ping, UDP), in tc and xdp modes: the pcap file holds exactly the frames the filter
// selects, byte for byte the ones tcpdump records on the host's own interface, in both directions,
// and tshark reads it; `plexus capture br0:p1 -w - | tcpdump -r -` works, in both modes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { run } from "../../../src/testbed/netns.js";
import { CaptureLab, pcapFrames, sleep, until } from "./lab.js";

describe("capture end to end at a bridge port", () => {
  let c: CaptureLab;
  before(async () => {
    c = await CaptureLab.start();
  });
  after(async () => c?.cleanup());

  for (const mode of ["tc", "xdp"] as const) {
    test(`${mode}: a capture file at br0:p1 holds exactly the selected frames, as the host's tcpdump saw them; tshark reads it`, async () => {
      await c.bridge(mode);
      try {
        assert.equal(await c.lab.ping(0, 1, 2), 2, "the bridge forwards (and has learned both hosts)");
        const filter = "icmp or udp port 5000";
        const ref = c.file(`ref-${mode}.pcap`);
        const ours = c.file(`ours-${mode}.pcap`);
        const oracle = await c.hostTcpdump(1, ref, filter);
        const cap = c.pxStart("capture", "br0:p1", "-w", ours, ...filter.split(" "));
        await c.captureRunning(cap);
        assert.equal((await c.captureInstances()).length, 2, "one capture instance per direction");
        assert.equal(await c.lab.ping(0, 1, 3), 3);
        await c.udpTo(5000, 3);
        await c.udpTo(5001, 3);
        await sleep(500);
        cap.child.kill("SIGINT");
        assert.equal(await cap.exited, 0, cap.stderr());
        oracle.child.kill("SIGINT");
        await oracle.exited;

        const got = pcapFrames(ours);
        assert.deepEqual(got, pcapFrames(ref), "the same frames, byte for byte, as tcpdump on host 1");
        // Out of p1: 3 echo requests and 6 datagrams, 3 of them to port 5000; into it: 3 echo
        // replies and, as every datagram hits a closed port, port-unreachable errors (ICMP, so
        // selected, whichever port they quote; host 1 rate-limits them, so up to 6). The 3
        // datagrams to port 5001 are not selected.
        const fields = await run("tshark", [
          "-r",
          ours,
          "-T",
          "fields",
          "-e",
          "icmp.type",
          "-e",
          "udp.dstport",
        ]);
        const lines = fields.stdout.trim().split("\n");
        const count = (line: string) => lines.filter((l) => l === line).length;
        const unreachable = count("3\t5000") + count("3\t5001");
        assert.equal(count("8\t"), 3, fields.stdout);
        assert.equal(count("0\t"), 3, fields.stdout);
        assert.equal(count("\t5000"), 3, fields.stdout);
        assert.equal(count("\t5001"), 0, fields.stdout);
        assert.ok(unreachable >= 1 && unreachable <= 6, fields.stdout);
        assert.equal(lines.length, 9 + unreachable, fields.stdout);
        assert.match(
          cap.stderr(),
          new RegExp(
            `^${got.length} packets captured\\n\\d+ packets received by filter\\n0 packets dropped by kernel\\n$`,
          ),
        );
        assert.deepEqual(await c.captureInstances(), [], "the capture's instances are gone");
      } finally {
        await c.lab.api.delete("/v1/instances/br0");
      }
    });
  }

  for (const mode of ["tc", "xdp"] as const)
    test(`plexus capture br0:p1 -w - | tcpdump -r - (${mode} bridge, -Q in, -c, snap length)`, async () => {
      await c.bridge(mode);
      try {
        assert.equal(await c.lab.ping(0, 1, 1), 1);
        const pipe = c.shell("plexus capture br0:p1 -Q in -c 3 -s 60 -w - icmp | tcpdump -n -r -");
        await c.captureRunning(pipe);
        assert.equal(await c.lab.ping(0, 1, 5), 5);
        assert.equal(await pipe.exited, 0, pipe.stderr());
        const lines = pipe.stdout().trim().split("\n");
        assert.equal(lines.length, 3, pipe.stdout());
        for (const l of lines)
          assert.match(
            l,
            /IP 198\.18\.0\.2 > 198\.18\.0\.1: ICMP echo reply/,
            "only what enters br0 through p1",
          );
        assert.match(pipe.stderr(), /reading from file -, link-type EN10MB \(Ethernet\), snapshot length 60/);
        assert.match(pipe.stderr(), /^3 packets captured$/m);
        await until("the capture's instances to go", async () => (await c.captureInstances()).length === 0);
      } finally {
        await c.lab.api.delete("/v1/instances/br0");
      }
    });
});
