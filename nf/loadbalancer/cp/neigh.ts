// Where a backend is: the interface and the MAC of the next hop towards it, from the daemon
// namespace's routes and neighbour table (`ip -j route get`, `ip -j neigh`). Health checks from the
// daemon keep those entries fresh; a backend whose next hop is not resolved yet gets a datagram
// (to the discard port) that makes the kernel resolve it.
import { execFile } from "node:child_process";
import { createSocket } from "node:dgram";
import { parseAddr } from "./addr.js";

export interface NextHop {
  dev: string;
  mac?: string;
}

function ipJson(args: string[]): Promise<unknown> {
  return new Promise((resolve) => {
    execFile("ip", ["-j", ...args], { timeout: 3000 }, (err, stdout) => {
      if (err) return resolve(undefined);
      try {
        resolve(JSON.parse(stdout || "[]"));
      } catch {
        resolve(undefined);
      }
    });
  });
}

/** The next hop towards each address (missing: no route). */
export async function nextHops(addrs: readonly string[]): Promise<Map<string, NextHop>> {
  const out = new Map<string, NextHop>();
  if (!addrs.length) return out;
  const neigh = ((await ipJson(["neigh", "show"])) ?? []) as {
    dst?: string;
    dev?: string;
    lladdr?: string;
  }[];
  const same = (a: string | undefined, b: string) => {
    const x = a === undefined ? undefined : parseAddr(a);
    const y = parseAddr(b);
    return Boolean(x && y && x.bytes.equals(y.bytes));
  };
  const macOf = (dev: string, dst: string) =>
    neigh.find((n) => n.dev === dev && n.lladdr && same(n.dst, dst))?.lladdr;
  await Promise.all(
    addrs.map(async (a) => {
      const r = (await ipJson(["route", "get", a])) as { dev?: string; gateway?: string }[] | undefined;
      const dev = r?.[0]?.dev;
      if (!dev) return;
      out.set(a, { dev, mac: macOf(dev, r[0].gateway ?? a) });
    }),
  );
  return out;
}

/** Makes the kernel resolve `addr`'s next hop (a datagram to the discard port). */
export function nudge(addr: string, family: 4 | 6): void {
  const s = createSocket(family === 4 ? "udp4" : "udp6");
  s.on("error", () => s.close());
  s.send(Buffer.alloc(1), 9, addr, () => s.close());
}
