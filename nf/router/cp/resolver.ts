// Next-hop resolution, the part of the router the kernel cannot do: a packet whose next hop has
// no MAC yet arrives here from the data plane, waits in a small queue per next hop while ARP
// requests / neighbour solicitations go out (retransmitted like Linux: neighRetries times,
// neighRetransmitMs apart), and leaves as soon as the answer comes (or the data plane learns the
// neighbour by itself). Packets are never lost silently: a full queue or a next hop that never
// answers counts them as dropped (reason unresolved) and answers their senders with ICMP host /
// address unreachable, as Linux does. It also re-confirms learned neighbours with unicast probes
// and forgets those that stop answering.
import type { BpfMap } from "../../../src/bpf/map/map.js";
import { formatIp, isLinkLocal6, prefixContains, type Family } from "./addr.js";
import {
  Drop,
  NEIGH_QUEUE_FULL,
  NeighState,
  decodeNeigh,
  decodeNeighKey,
  encodeNeigh,
  neighKey,
  type Neigh,
} from "./abi.js";
import type { PortPlan, RouterConfig } from "./config.js";
import {
  arpRequest,
  hostUnreachable,
  mayReplyWithError,
  neighSolicit,
  parseNeighAdvert,
  rewriteMacs,
} from "./frames.js";

/** What the resolver needs from the router around it. */
export interface ResolverEnv {
  neighMap(family: Family): BpfMap;
  plan(index: number): PortPlan | undefined;
  config(): RouterConfig;
  /** Sends a frame out of a port; false when it could not be sent. */
  send(port: number, frame: Buffer): boolean;
  countDrop(reason: number, packets: number): void;
  /** Whether the ICMP error rate limit lets one more through. */
  icmpAllowed(): boolean;
  event(kind: string, message: string, data?: Record<string, unknown>): void;
  /** Milliseconds, monotonic. */
  nowMs(): number;
  /** Nanoseconds on the data plane's clock (CLOCK_MONOTONIC, as bpf_ktime_get_ns()). */
  nowNs(): bigint;
}

interface Waiting {
  frame: Buffer;
  inPort: number;
}

interface Pending {
  family: Family;
  port: number;
  addr: Buffer;
  queue: Waiting[];
  /** Solicitations sent so far. */
  tries: number;
  nextAt: number;
  full: boolean;
}

interface Probe {
  family: Family;
  port: number;
  addr: Buffer;
  mac: Buffer;
  tries: number;
  nextAt: number;
  /** Entry confirmed after this (data-plane clock) means it answered. */
  since: bigint;
}

const id = (family: Family, port: number, addr: Uint8Array): string =>
  `${family}/${port}/${Buffer.from(addr).toString("hex")}`;

/** The address a solicitation for `target` goes out from on `plan`'s link. */
export function solicitSource(plan: PortPlan, family: Family, target: Uint8Array): Buffer | undefined {
  if (family === 4) return (plan.v4.find((a) => prefixContains(a, 4, target)) ?? plan.v4[0])?.addr;
  if (isLinkLocal6(target)) return plan.ll6;
  return (plan.v6.find((a) => prefixContains(a, 6, target)) ?? plan.v6[0])?.addr ?? plan.ll6;
}

/** The address an ICMP error to `dst` goes out from on `plan`'s link (undefined: none). */
export function errorSource(plan: PortPlan, family: Family, dst: Uint8Array): Buffer | undefined {
  if (family === 4) return (plan.v4.find((a) => prefixContains(a, 4, dst)) ?? plan.v4[0])?.addr;
  if (isLinkLocal6(dst)) return plan.ll6;
  return (plan.v6.find((a) => prefixContains(a, 6, dst)) ?? plan.v6[0])?.addr ?? plan.ll6;
}

export class Resolver {
  private readonly pending = new Map<string, Pending>();
  private readonly probes = new Map<string, Probe>();

  constructor(private readonly env: ResolverEnv) {}

  /** Next hops being resolved and packets waiting for them. */
  get waiting(): { nextHops: number; packets: number } {
    let packets = 0;
    for (const p of this.pending.values()) packets += p.queue.length;
    return { nextHops: this.pending.size, packets };
  }

  private lookup(family: Family, port: number, addr: Uint8Array): Neigh | undefined {
    const v = this.env.neighMap(family).lookup(neighKey(family, port, addr));
    return v && decodeNeigh(v);
  }

  private write(family: Family, port: number, addr: Uint8Array, n: Neigh): void {
    this.env.neighMap(family).update(neighKey(family, port, addr), encodeNeigh(n));
  }

  private remove(family: Family, port: number, addr: Uint8Array): void {
    this.env.neighMap(family).delete(neighKey(family, port, addr));
  }

  /**
   * A packet the data plane could not send because the MAC of `nextHop` on `port` is unknown
   * (its TTL is already decremented; its Ethernet header is still the sender's).
   */
  enqueue(frame: Buffer, inPort: number, family: Family, port: number, nextHop: Buffer): void {
    const plan = this.env.plan(port);
    if (!plan) {
      this.env.countDrop(Drop.UNRESOLVED, 1);
      return;
    }
    const cur = this.lookup(family, port, nextHop);
    if (cur && cur.state !== NeighState.INCOMPLETE) {
      // Learned in the meantime: on its way at once.
      this.deliver(plan, cur.mac, [{ frame, inPort }]);
      return;
    }
    const key = id(family, port, nextHop);
    let p = this.pending.get(key);
    if (!p) {
      p = { family, port, addr: Buffer.from(nextHop), queue: [], tries: 0, nextAt: 0, full: false };
      this.pending.set(key, p);
      this.write(family, port, nextHop, {
        mac: Buffer.alloc(6),
        state: NeighState.INCOMPLETE,
        flags: 0,
        confirmed: 0n,
      });
      this.solicit(p);
    }
    if (p.queue.length >= this.env.config().neighQueueLength) {
      this.env.countDrop(Drop.UNRESOLVED, 1);
      if (!p.full) {
        // Until it resolves, the data plane drops (and counts) what would overflow the queue.
        p.full = true;
        this.write(family, port, nextHop, {
          mac: Buffer.alloc(6),
          state: NeighState.INCOMPLETE,
          flags: NEIGH_QUEUE_FULL,
          confirmed: 0n,
        });
      }
      return;
    }
    p.queue.push({ frame, inPort });
  }

  private solicitFrame(
    plan: PortPlan,
    family: Family,
    target: Buffer,
    unicastMac?: Buffer,
  ): Buffer | undefined {
    const src = solicitSource(plan, family, target);
    if (!src) return undefined;
    return family === 4
      ? arpRequest(plan.mac, src, target, unicastMac)
      : neighSolicit(plan.mac, src, target, unicastMac);
  }

  private solicit(p: Pending): void {
    const plan = this.env.plan(p.port);
    const frame = plan && this.solicitFrame(plan, p.family, p.addr);
    if (frame) this.env.send(p.port, frame);
    p.tries++;
    p.nextAt = this.env.nowMs() + this.env.config().neighRetransmitMs;
  }

  private deliver(plan: PortPlan, mac: Buffer, list: readonly Waiting[]): void {
    let lost = 0;
    for (const w of list) if (!this.env.send(plan.index, rewriteMacs(w.frame, mac, plan.mac))) lost++;
    if (lost) this.env.countDrop(Drop.UNRESOLVED, lost);
  }

  /** The next hop did not answer: its packets are dropped, their senders told. */
  private fail(p: Pending): void {
    const cur = this.lookup(p.family, p.port, p.addr);
    if (cur?.state === NeighState.INCOMPLETE) this.remove(p.family, p.port, p.addr);
    let told = 0;
    for (const w of p.queue) {
      const plan = this.env.plan(w.inPort);
      if (!plan || !mayReplyWithError(w.frame) || !this.env.icmpAllowed()) continue;
      const dst = w.frame.subarray(p.family === 4 ? 26 : 22, p.family === 4 ? 30 : 38);
      const src = errorSource(plan, p.family, dst);
      const err = src && hostUnreachable(w.frame, plan.mac, src);
      if (err && this.env.send(w.inPort, err)) told++;
    }
    const n = p.queue.length;
    if (n) this.env.countDrop(Drop.UNRESOLVED, n);
    const where = `${formatIp(p.family, p.addr)} on ${this.env.plan(p.port)?.name ?? p.port}`;
    this.env.event(
      "neigh.failed",
      `no answer from ${where} after ${p.tries} solicitation${p.tries === 1 ? "" : "s"}: ${n} waiting packet${n === 1 ? "" : "s"} dropped, ${told} unreachable sent`,
      { address: formatIp(p.family, p.addr), port: p.port, dropped: n },
    );
  }

  /** An ARP reply / announcement or a neighbour advertisement that arrived on `port`. */
  learn(frame: Buffer, port: number): void {
    const adv = parseNeighAdvert(frame);
    if (!adv) return;
    const mac = adv.mac ?? Buffer.from(frame.subarray(6, 12));
    if (mac[0] & 1) return;
    const key = id(adv.family, port, adv.addr);
    const cur = this.lookup(adv.family, port, adv.addr);
    const pend = this.pending.get(key);
    if (cur?.state === NeighState.PERMANENT) return;
    // Like Linux (arp_accept=0) and RFC 4861 7.2.5: announcements only update what we know.
    if (!cur && !pend) return;
    if (cur && cur.state !== NeighState.INCOMPLETE && !adv.override && !cur.mac.equals(mac)) return;
    this.write(adv.family, port, adv.addr, {
      mac,
      state: NeighState.REACHABLE,
      flags: 0,
      confirmed: this.env.nowNs(),
    });
    this.probes.delete(key);
    if (pend) {
      this.pending.delete(key);
      const plan = this.env.plan(port);
      if (plan) this.deliver(plan, mac, pend.queue);
      else this.env.countDrop(Drop.UNRESOLVED, pend.queue.length);
    }
  }

  /** A neighbour became known another way (a static entry): send what waits for it. */
  resolved(family: Family, port: number, addr: Buffer, mac: Buffer): void {
    const key = id(family, port, addr);
    const pend = this.pending.get(key);
    this.probes.delete(key);
    if (!pend) return;
    this.pending.delete(key);
    const plan = this.env.plan(port);
    if (plan) this.deliver(plan, mac, pend.queue);
  }

  /** Retransmissions, packets the data plane's own learning released, timeouts. Run often. */
  tick(): void {
    const now = this.env.nowMs();
    const cfg = this.env.config();
    for (const [key, p] of this.pending) {
      const cur = this.lookup(p.family, p.port, p.addr);
      if (cur && cur.state !== NeighState.INCOMPLETE) {
        // The data plane learned it (the neighbour asked for us meanwhile).
        this.pending.delete(key);
        const plan = this.env.plan(p.port);
        if (plan) this.deliver(plan, cur.mac, p.queue);
        continue;
      }
      if (now < p.nextAt) continue;
      if (p.tries >= cfg.neighRetries) {
        this.pending.delete(key);
        this.fail(p);
        continue;
      }
      if (!cur)
        this.write(p.family, p.port, p.addr, {
          mac: Buffer.alloc(6),
          state: NeighState.INCOMPLETE,
          flags: p.full ? NEIGH_QUEUE_FULL : 0,
          confirmed: 0n,
        });
      this.solicit(p);
    }
    for (const [key, pr] of this.probes) {
      if (now < pr.nextAt) continue;
      const cur = this.lookup(pr.family, pr.port, pr.addr);
      if (
        !cur ||
        cur.state === NeighState.PERMANENT ||
        cur.state === NeighState.INCOMPLETE ||
        cur.confirmed > pr.since
      ) {
        this.probes.delete(key);
        continue;
      }
      if (pr.tries >= cfg.neighRetries) {
        this.probes.delete(key);
        this.remove(pr.family, pr.port, pr.addr);
        this.env.event(
          "neigh.expired",
          `${formatIp(pr.family, pr.addr)} on ${this.env.plan(pr.port)?.name ?? pr.port} stopped answering; forgotten`,
          {
            address: formatIp(pr.family, pr.addr),
            port: pr.port,
          },
        );
        continue;
      }
      const plan = this.env.plan(pr.port);
      const frame = plan && this.solicitFrame(plan, pr.family, pr.addr, pr.mac);
      if (frame) this.env.send(pr.port, frame);
      pr.tries++;
      pr.nextAt = now + cfg.neighRetransmitMs;
    }
  }

  /**
   * Walks the neighbour tables: starts probing entries unconfirmed for neighReachableMs, removes
   * entries of ports that are gone and resolutions nobody runs any more (after a restart).
   */
  age(): void {
    const nowNs = this.env.nowNs();
    const reachableNs = BigInt(this.env.config().neighReachableMs) * 1_000_000n;
    for (const family of [4, 6] as const) {
      const map = this.env.neighMap(family);
      const gone: Buffer[] = [];
      for (const [k, v] of map.entriesBatched()) {
        const { port, addr } = decodeNeighKey(family, k);
        const n = decodeNeigh(v);
        const key = id(family, port, addr);
        if (!this.env.plan(port)) {
          gone.push(k);
          continue;
        }
        if (n.state === NeighState.INCOMPLETE) {
          if (!this.pending.has(key)) gone.push(k);
          continue;
        }
        if (n.state === NeighState.PERMANENT || this.probes.has(key)) continue;
        if (nowNs - n.confirmed < reachableNs) continue;
        this.probes.set(key, { family, port, addr, mac: n.mac, tries: 0, nextAt: 0, since: n.confirmed });
        map.update(k, encodeNeigh({ ...n, state: NeighState.PROBE }));
      }
      for (const k of gone) map.delete(k);
    }
  }

  /** Forgets pending resolutions on ports that no longer exist (their packets are dropped). */
  portsChanged(): void {
    for (const [key, p] of this.pending) {
      if (this.env.plan(p.port)) continue;
      this.pending.delete(key);
      this.env.countDrop(Drop.UNRESOLVED, p.queue.length);
    }
    for (const [key, pr] of this.probes) if (!this.env.plan(pr.port)) this.probes.delete(key);
  }

  /** Drops everything waiting (the instance is going away). */
  clear(): void {
    for (const p of this.pending.values()) this.env.countDrop(Drop.UNRESOLVED, p.queue.length);
    this.pending.clear();
    this.probes.clear();
  }
}
