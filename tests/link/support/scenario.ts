// Shared set-up of the attach tests: two namespaces joined by a veth pair (a pings b) and the
// counting fixture, both torn down however the test ends.
import { twoHosts, type TwoHosts } from "../../../src/testbed/netns.js";
import { loadLinkFixture, type LinkFixture } from "./programs.js";

export async function scenario(fn: (net: TwoHosts, fx: LinkFixture) => Promise<void>): Promise<void> {
  const net = await twoHosts();
  let fx: LinkFixture | undefined;
  try {
    fx = await loadLinkFixture();
    await fn(net, fx);
  } finally {
    fx?.close();
    net.cleanup();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms; fails with `what` if it does not hold within `ms`. */
export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}
