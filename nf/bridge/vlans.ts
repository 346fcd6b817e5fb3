// Port VLAN configuration: VLAN lists ("10,20-29"), and what an access or trunk port's settings
// mean for membership and tagging.
import { PortMode, VLAN_MAX, type PortRecord } from "./abi.js";

/** A VLAN list that cannot be read; the message says which part and why. */
export class VlanListError extends Error {
  override name = "VlanListError";
}

function vid(text: string, whole: string): number {
  const n = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > VLAN_MAX)
    throw new VlanListError(`'${text.trim()}' in VLAN list '${whole}' is not a VLAN id (1..${VLAN_MAX})`);
  return n;
}

/**
 * VLAN ids from "10,20-29", [10, "20-29"] or 7, sorted and unique. A range written backwards
 * ("29-20") means the same range.
 */
export function parseVlanList(spec: unknown): number[] {
  const parts: string[] = [];
  if (typeof spec === "number") parts.push(String(spec));
  else if (typeof spec === "string") parts.push(...spec.split(","));
  else if (Array.isArray(spec)) for (const x of spec) parts.push(String(x));
  else
    throw new VlanListError(
      `a VLAN list is a string like "10,20-29" or an array, not ${JSON.stringify(spec)}`,
    );
  const whole = Array.isArray(spec) ? spec.join(",") : String(spec);
  const out = new Set<number>();
  for (const part of parts) {
    const [a, b, extra] = part.split("-");
    if (extra !== undefined || a.trim() === "")
      throw new VlanListError(`'${part}' in VLAN list '${whole}' is not a VLAN id or range`);
    const lo = vid(a, whole);
    const hi = b === undefined ? lo : vid(b, whole);
    for (let v = Math.min(lo, hi); v <= Math.max(lo, hi); v++) out.add(v);
  }
  return [...out].sort((x, y) => x - y);
}

const ALL_VLANS = (): Set<number> => new Set(Array.from({ length: VLAN_MAX }, (_, i) => i + 1));

function intSetting(config: Record<string, unknown>, key: string): number | undefined {
  const v = config[key];
  if (v === undefined || v === null || v === "") return undefined;
  const n = typeof v === "string" ? Number(v.trim()) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > VLAN_MAX)
    throw new VlanListError(`${key} ${JSON.stringify(v)} is not a VLAN id (1..${VLAN_MAX})`);
  return n;
}

/**
 * A port's 802.1Q record from its configuration: `mode: access` with `vlan` (default 1), or
 * `mode: trunk` with `vlans` (default: all, as Open vSwitch trunks) and an optional untagged
 * `native` VLAN (which is then a member too).
 */
export function portRecord(config: Record<string, unknown>): PortRecord {
  const mode = config.mode ?? "access";
  if (mode === "access") {
    const v = intSetting(config, "vlan") ?? 1;
    return { mode: PortMode.ACCESS, pvid: v, vlans: new Set([v]) };
  }
  if (mode !== "trunk") throw new VlanListError(`mode ${JSON.stringify(mode)} is not access or trunk`);
  const vlans = config.vlans === undefined ? ALL_VLANS() : new Set(parseVlanList(config.vlans));
  const native = intSetting(config, "native");
  if (native !== undefined) vlans.add(native);
  return { mode: PortMode.TRUNK, pvid: native ?? 0, vlans };
}
