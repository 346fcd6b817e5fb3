// Map contents and traffic for the realistic programs (vm_firewall): shared by the differential
// tests and the benchmarks.
import type { MapHandle } from "../../src/bpf/map/handle.js";
import { checksum } from "../helpers/packets.js";

const u32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer);

/** Denies 198.19.0.0/16 and 198.18.200.0/24; admits TCP 22, 80, 443 and UDP 53. */
export function firewallSetup(map: (name: string) => MapHandle): void {
  map("deny").update(Buffer.from([...u32(16), 198, 19, 0, 0]), u32(1));
  map("deny").update(Buffer.from([...u32(24), 198, 18, 200, 0]), u32(2));
  for (const [port, proto] of [
    [22, 6],
    [80, 6],
    [443, 6],
    [53, 17],
  ])
    map("allow").update(Buffer.from([port >> 8, port & 0xff, proto, 0]), u32(1));
}

/** An Ethernet/IPv4 frame with a TCP (flags) or UDP header and `payload` bytes. */
export function flowFrame(o: {
  src: number[];
  dst: number[];
  sport: number;
  dport: number;
  proto: 6 | 17;
  flags?: number;
  payload?: number;
}): Buffer {
  const payload = Buffer.alloc(o.payload ?? 18, 0x42);
  const l4 =
    o.proto === 6
      ? Buffer.concat([
          Buffer.from([
            o.sport >> 8,
            o.sport & 0xff,
            o.dport >> 8,
            o.dport & 0xff,
            0,
            0,
            0,
            1,
            0,
            0,
            0,
            0,
            0x50,
            o.flags ?? 0x10,
            0xff,
            0xff,
            0,
            0,
            0,
            0,
          ]),
          payload,
        ])
      : Buffer.concat([
          Buffer.from([
            o.sport >> 8,
            o.sport & 0xff,
            o.dport >> 8,
            o.dport & 0xff,
            0,
            8 + payload.length,
            0,
            0,
          ]),
          payload,
        ]);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip[8] = 64;
  ip[9] = o.proto;
  Buffer.from(o.src).copy(ip, 12);
  Buffer.from(o.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 8, 0]), ip, l4]);
}

/** Traffic for the firewall: many TCP connections (SYN then data both ways), UDP, denied sources. */
export function firewallTraffic(n: number, seed = 1): Buffer[] {
  const out: Buffer[] = [];
  let x = seed;
  const rnd = (): number => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  for (let i = 0; out.length < n; i++) {
    const client = [198, 18, 1 + (i % 200), 1 + (i % 250)];
    const server = [198, 18, 0, 2 + (i % 8)];
    const sport = 1024 + (i % 50000);
    const dport = [22, 80, 443, 8080][i % 4];
    const k = rnd();
    if (k < 0.1)
      out.push(flowFrame({ src: [198, 19, i & 0xff, 7], dst: server, sport, dport, proto: 6, flags: 2 }));
    else if (k < 0.25)
      out.push(flowFrame({ src: client, dst: server, sport, dport: 53, proto: 17, payload: 40 }));
    else {
      out.push(flowFrame({ src: client, dst: server, sport, dport, proto: 6, flags: 2, payload: 0 }));
      for (let d = 0; d < 4 && out.length < n; d++) {
        out.push(
          flowFrame({
            src: client,
            dst: server,
            sport,
            dport,
            proto: 6,
            flags: 0x18,
            payload: 100 + d * 200,
          }),
        );
        out.push(
          flowFrame({
            src: server,
            dst: client,
            sport: dport,
            dport: sport,
            proto: 6,
            flags: 0x10,
            payload: 0,
          }),
        );
      }
    }
  }
  return out.slice(0, n);
}

/** An ICMP echo request to 198.18.0.99 from 198.18.0.1. */
export function echoRequest(seq: number): Buffer {
  const icmp = Buffer.from([8, 0, 0, 0, 0x12, 0x34, 0, seq, ...Buffer.alloc(24, seq)]);
  icmp.writeUInt16BE(checksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip[8] = 64;
  ip[9] = 1;
  Buffer.from([198, 18, 0, 1]).copy(ip, 12);
  Buffer.from([198, 18, 0, 99]).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const eth = Buffer.from([2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 8, 0]);
  return Buffer.concat([eth, ip, icmp]);
}
