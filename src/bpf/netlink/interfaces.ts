// Network interface lookups by name or index, in the calling thread's network namespace.
import { NetlinkError } from "../errors.js";
import { ENODEV } from "../sys/errno.js";
import { native } from "../sys/native.js";
import { AttrBuilder, Attrs } from "./attributes.js";
import { Ifla, RTEXT_FILTER_SKIP_STATS, Rtm } from "./constants.js";
import { IFINFOMSG_LEN, ifinfomsg } from "./messages.js";
import { NetlinkSocket } from "./socket.js";

/** An interface given by name ("veth0") or by ifindex. */
export type InterfaceSpec = string | number;

export interface InterfaceRef {
  ifindex: number;
  name: string;
}

/** ifindex of `name`, or undefined when there is no such interface. */
export function interfaceIndex(name: string): number | undefined {
  const i = native().ifNameToIndex(name);
  return i > 0 ? i : undefined;
}

/** Name of interface `ifindex`, or undefined when there is none. */
export function interfaceName(ifindex: number): string | undefined {
  return native().ifIndexToName(ifindex);
}

/**
 * Resolves an interface to both its index and its name. A missing interface is a NetlinkError
 * with errno ENODEV whose message names it.
 */
export function resolveInterface(iface: InterfaceSpec): InterfaceRef {
  if (typeof iface === "number") {
    const name = Number.isInteger(iface) && iface > 0 ? interfaceName(iface) : undefined;
    if (name === undefined)
      throw new NetlinkError(
        `find interface ${iface}`,
        ENODEV,
        `no interface with ifindex ${iface} in this network namespace (see \`ip link\`)`,
      );
    return { ifindex: iface, name };
  }
  const ifindex = interfaceIndex(iface);
  if (ifindex === undefined)
    throw new NetlinkError(
      `find interface ${iface}`,
      ENODEV,
      `no interface named "${iface}" in this network namespace (see \`ip link\`)`,
    );
  return { ifindex, name: iface };
}

/** The link-layer address of an interface ("02:00:00:00:00:01"), read with RTM_GETLINK. */
export function interfaceMac(iface: InterfaceSpec): string {
  const ref = resolveInterface(iface);
  const attrs = new AttrBuilder().u32(Ifla.EXT_MASK, RTEXT_FILTER_SKIP_STATS).finish();
  const replies = NetlinkSocket.with((s) =>
    s.request(`read the address of ${ref.name}`, Rtm.GETLINK, 0, ifinfomsg(ref.ifindex, attrs)),
  );
  const link = replies.find((m) => m.type === Rtm.NEWLINK);
  const addr = link ? Attrs.parse(link.payload.subarray(IFINFOMSG_LEN)).bytes(Ifla.ADDRESS) : undefined;
  return addr ? [...addr].map((b) => b.toString(16).padStart(2, "0")).join(":") : "";
}
