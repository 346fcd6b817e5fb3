// Capture files in and out: pcap and pcapng written by the runtime are read back by tcpdump (the
// oracle) and by our readers; plexus run --pcap runs a program over a capture and writes what
// leaves it, with verdicts in pcapng comments.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checksum } from "../helpers/packets.js";
import { fixture } from "../helpers/fixtures.js";
import { plexus } from "../helpers/cli.js";
import { PcapWriter, isPcap, readPcap } from "../../src/vm/io/pcap.js";
import { PcapngWriter, isPcapng, readPcapng } from "../../src/vm/io/pcapng.js";
import { packetCorpus } from "./corpus.js";
import { echoRequest } from "./workloads.js";

const frames = packetCorpus();

test("pcap and pcapng round trips, and tcpdump reads what we write", () => {
  const dir = mkdtempSync(join(tmpdir(), "pxvm-"));
  try {
    const w = new PcapWriter();
    const ng = new PcapngWriter();
    frames.forEach((f, i) => {
      w.add({ timeNs: 1_700_000_000_123_456_789n + BigInt(i), data: f.data });
      ng.add({
        timeNs: 1_700_000_000_123_456_789n + BigInt(i),
        data: f.data,
        comment: `frame ${f.name}`,
        iface: i % 2 ? "odd" : "even",
      });
    });
    const pcap = w.bytes();
    const pcapng = ng.bytes();
    assert.ok(isPcap(pcap) && !isPcapng(pcap));
    assert.ok(isPcapng(pcapng) && !isPcap(pcapng));
    const back = [...readPcap(pcap)];
    assert.equal(back.length, frames.length);
    assert.deepEqual(back[3].data, frames[3].data);
    assert.equal(back[3].timeNs, 1_700_000_000_123_456_792n);
    const backNg = [...readPcapng(pcapng)];
    assert.deepEqual(
      backNg.map((p) => p.data.toString("hex")),
      frames.map((f) => f.data.toString("hex")),
    );
    assert.equal(backNg[5].comment, `frame ${frames[5].name}`);
    assert.equal(backNg[5].interfaceId, 1);
    assert.equal(backNg[5].timeNs, 1_700_000_000_123_456_794n);

    writeFileSync(join(dir, "a.pcap"), pcap);
    writeFileSync(join(dir, "a.pcapng"), pcapng);
    for (const f of ["a.pcap", "a.pcapng"]) {
      const out = execFileSync("tcpdump", ["-r", join(dir, f), "-n", "-tt", "-nn"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      const lines = out.split("\n").filter((l) => /^\d+\.\d+ /.test(l));
      assert.equal(lines.length, frames.length, f);
      assert.match(lines[0], /^1700000000\.123456 IP 198\.18\.0\.1\.1234 > 198\.18\.0\.2\.5678: UDP/);
    }
    // tcpdump's own pcap (microsecond, its byte order) read back.
    execFileSync("tcpdump", ["-r", join(dir, "a.pcap"), "-w", join(dir, "b.pcap")], { stdio: "ignore" });
    const viaTcpdump = [...readPcap(readFileSync(join(dir, "b.pcap")))];
    assert.equal(viaTcpdump.length, frames.length);
    assert.deepEqual(viaTcpdump[10].data, frames[10].data);
    assert.equal(viaTcpdump[10].timeNs, 1_700_000_000_123_456_000n, "microseconds");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("malformed captures give errors, not crashes", () => {
  assert.throws(() => [...readPcap(Buffer.from("not a capture file at all, really"))], /not a pcap file/);
  const w = new PcapWriter();
  w.add({ timeNs: 1n, data: Buffer.alloc(60) });
  const b = w.bytes();
  assert.throws(() => [...readPcap(b.subarray(0, b.length - 5))], /truncated packet/);
  const ng = new PcapngWriter();
  ng.add({ timeNs: 1n, data: Buffer.alloc(60) });
  const n = ng.bytes();
  const bad = Buffer.from(n);
  bad.writeUInt32LE(13, 4);
  assert.throws(() => [...readPcapng(bad)], /bad block length/);
});

test("plexus run --pcap: verdict counters, the output capture and its comments", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pxvm-"));
  try {
    const w = new PcapWriter();
    const input = [echoRequest(1), frames[0].data, echoRequest(2), frames[20].data, echoRequest(3)];
    input.forEach((d, i) => w.add({ timeNs: BigInt(i), data: d }));
    writeFileSync(join(dir, "in.pcap"), w.bytes());
    const obj = await fixture("vm_pong");
    for (const engine of ["interp", "jit"]) {
      const r = plexus([
        "run",
        obj,
        "--prog",
        "pong",
        "--pcap",
        join(dir, "in.pcap"),
        "--out",
        join(dir, "out.pcapng"),
        "--json",
        "--engine",
        engine,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout);
      assert.equal(s.packets, 5);
      assert.deepEqual(s.counters, { pass: 2, drop: 0, tx: 3, redirect: 0, aborted: 0, error: 0 });
      assert.equal(s.written, 5);
      const out = [...readPcapng(readFileSync(join(dir, "out.pcapng")))];
      assert.equal(out[0].comment, "XDP_TX");
      assert.equal(out[1].comment, "XDP_PASS");
      assert.deepEqual(out[1].data, input[1], "passed packets leave unchanged");
      const reply = out[2].data;
      assert.equal(reply[34], 0, "an echo reply");
      assert.deepEqual(reply.subarray(26, 30), Buffer.from([198, 18, 0, 99]), "from the echoed address");
      assert.equal(checksum(reply.subarray(34)), 0, "with a valid ICMP checksum");
      const text = execFileSync("tcpdump", ["-r", join(dir, "out.pcapng"), "-n"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      assert.match(text, /198\.18\.0\.99 > 198\.18\.0\.1: ICMP echo reply, id 4660, seq 2/);
    }
    const plain = plexus(["run", obj, "--prog", "pong", "--pcap", join(dir, "in.pcap")]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      plain.stdout,
      /^packets: 5 in [\d.]+ s \([\d,]+ packets\/s\)\npass 2 {2}drop 0 {2}tx 3 {2}redirect 0/,
    );
    const both = plexus(["run", obj, "--prog", "pong"]);
    assert.equal(both.code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
