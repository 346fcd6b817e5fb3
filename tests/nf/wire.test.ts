// The framework through its smallest NF, run alone with BPF_PROG_TEST_RUN: port hops, counters,
// drop reasons, in both hooks.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TcAction, XdpAction } from "../../src/bpf/constants.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { FrameworkDrop } from "../../src/core/dataplane/abi.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import { NfTestRun } from "../../src/testbed/nf-testrun.js";
import { udp4Frame } from "../helpers/packets.js";

for (const hook of ["xdp", "tc"] as const) {
  const REDIRECT = hook === "xdp" ? XdpAction.REDIRECT : TcAction.REDIRECT;
  const DROP = hook === "xdp" ? XdpAction.DROP : TcAction.SHOT;
  const PASS = hook === "xdp" ? XdpAction.PASS : 0xffffffff; // TCX_NEXT (-1) as the u32 test runs return

  describe(`wire (${hook})`, () => {
    let bpffs: Bpffs;
    let t: NfTestRun;
    before(async () => {
      bpffs = mountBpffs();
      t = await NfTestRun.open(join(projectRoot, "nf", "wire", "build", `wire.${hook}.o`), bpffs.path);
    });
    after(() => {
      t.close();
      bpffs.cleanup();
    });

    test("a frame in through one port leaves through the other, counted", () => {
      t.connect(1, { kind: "iface", ifindex: 1 });
      const frame = udp4Frame(64);
      const r = t.run(frame, 0);
      assert.equal(r.retval, REDIRECT);
      assert.deepEqual(r.txPorts, [1]);
      assert.deepEqual(r.drops, []);
      assert.deepEqual(r.data, frame, "the wire does not touch the frame");
    });

    test("a port with no peer drops, with the port_down reason", () => {
      const r = t.run(udp4Frame(64), 1);
      assert.equal(r.retval, DROP);
      assert.deepEqual(r.drops, [FrameworkDrop.PORT_DOWN]);
    });

    test("a pass hop hands the frame to the host", () => {
      t.connect(0, { kind: "pass" });
      assert.equal(t.run(udp4Frame(64), 1).retval, PASS);
    });
  });
}
