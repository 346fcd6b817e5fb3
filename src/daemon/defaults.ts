// Where a daemon keeps things unless told otherwise (a module of its own: the CLI shows these in
// its help without loading the daemon).
import { DEFAULT_SOCKET } from "../api/client.js";

export const DEFAULTS = { socket: DEFAULT_SOCKET, stateDir: "/var/lib/plexus", bpffs: "/sys/fs/bpf" };
