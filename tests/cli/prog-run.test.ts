// plexus prog run: BPF_PROG_TEST_RUN from the command line (root).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { plexus } from "../helpers/cli.js";
import { fixture } from "../helpers/fixtures.js";
import { udp4Frame } from "../helpers/packets.js";

describe("plexus prog run", () => {
  test("--json gives retval, output packet and duration", async () => {
    const frame = udp4Frame(64);
    const r = plexus([
      "prog",
      "run",
      await fixture("obj_xdp_counter"),
      "--prog",
      "xdp_count",
      "--data-hex",
      frame.toString("hex"),
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).sort(), ["dataOutHex", "durationNs", "retval"]);
    assert.equal(out.retval, 2);
    assert.equal(out.dataOutHex, frame.toString("hex"));
    assert.equal(typeof out.durationNs, "number");
  });

  test("--map fills maps before the run", async () => {
    const obj = await fixture("obj_calls");
    const args = [
      "prog",
      "run",
      obj,
      "--prog",
      "calls",
      "--data-hex",
      udp4Frame(64).toString("hex"),
      "--json",
    ];
    const plain = JSON.parse(plexus(args).stdout).retval;
    const filled = plexus([
      ...args,
      "--map",
      "values",
      "00000000=0500000000000000",
      "01000000=0700000000000000",
      "--repeat",
      "3",
    ]);
    assert.equal(filled.code, 0, filled.stderr);
    assert.equal(JSON.parse(filled.stdout).retval, plain + 12);
  });

  test("text output names the verdict", async () => {
    const r = plexus([
      "prog",
      "run",
      await fixture("obj_tailcall"),
      "--prog",
      "tail_entry",
      "--data-hex",
      "02" + udp4Frame(63).toString("hex"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^retval: 22\n/);
  });

  test("bad input gets a clear error and a non-zero exit", async () => {
    const obj = await fixture("obj_xdp_counter");
    const badHex = plexus(["prog", "run", obj, "--prog", "xdp_count", "--data-hex", "abc"]);
    assert.equal(badHex.code, 2);
    assert.match(badHex.stderr, /--data-hex: 'abc' is not an even number of hex digits/);
    const both = plexus(["prog", "run", obj, "--prog", "xdp_count"]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --data-hex/);
    const badMap = plexus([
      "prog",
      "run",
      obj,
      "--prog",
      "xdp_count",
      "--data-hex",
      "00",
      "--map",
      "nomap",
      "00=00",
    ]);
    assert.equal(badMap.code, 1);
    assert.match(badMap.stderr, /no map 'nomap'/);
    const sizes = plexus([
      "prog",
      "run",
      obj,
      "--prog",
      "xdp_count",
      "--data-hex",
      "00".repeat(64),
      "--map",
      "counters",
      "00=00",
    ]);
    assert.equal(sizes.code, 2);
    assert.match(sizes.stderr, /the map wants 4\/16/);
    const rejected = plexus([
      "prog",
      "run",
      await fixture("obj_reject"),
      "--prog",
      "unchecked_read",
      "--data-hex",
      "00",
    ]);
    assert.equal(rejected.code, 1);
    assert.match(rejected.stderr, /unchecked_read.*instruction/);
  });
});
