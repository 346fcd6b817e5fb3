// The Linux helpers the userspace runtime implements, by id.
import { fibHelpers } from "./fib.js";
import { mapHelpers } from "./maps.js";
import { miscHelpers } from "./misc.js";
import { packetHelpers } from "./packet.js";
import { syncookieHelpers } from "./syncookie.js";
import type { HelperDef, HelperSet } from "./types.js";
import { vlanHelpers } from "./vlan.js";

export const linuxHelpers: HelperSet = new Map<number, HelperDef>(
  [...mapHelpers, ...miscHelpers, ...packetHelpers, ...vlanHelpers, ...fibHelpers, ...syncookieHelpers].map(
    (d) => [d.id, d],
  ),
);
