// The desired state: everything users asked for (instances, ports, peers, attachments, configured
// table entries) plus the few runtime facts needed to adopt kernel objects after a restart (slots,
// link veth ids). Saved atomically (write, fsync, rename) after every change.
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { Type, type Static } from "typebox";
import { PlexusError } from "./errors.js";
import { schemaErrors } from "./nf/manifest.js";

export const NAME_PATTERN = "^[a-zA-Z][a-zA-Z0-9_-]{0,31}$";
export const PORT_PATTERN = "^[a-zA-Z0-9][a-zA-Z0-9_-]{0,14}$";

const Config = Type.Record(Type.String(), Type.Unknown());

export const PeerSchema = Type.Union([
  Type.Object({ iface: Type.String({ minLength: 1, maxLength: 15 }) }, { additionalProperties: false }),
  Type.Object(
    { instance: Type.String({ pattern: NAME_PATTERN }), port: Type.String({ pattern: PORT_PATTERN }) },
    { additionalProperties: false },
  ),
]);
export type Peer = Static<typeof PeerSchema>;

export const PortStateSchema = Type.Object(
  {
    index: Type.Integer({ minimum: 0, maximum: 127 }),
    peer: Type.Optional(PeerSchema),
    config: Config,
    /** Id of the link veth pair backing an instance-to-instance connection. */
    link: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type PortState = Static<typeof PortStateSchema>;

export const DirectionSchema = Type.Union([Type.Literal("ingress"), Type.Literal("egress")]);
export type AttachDirection = Static<typeof DirectionSchema>;

export const AttachmentSchema = Type.Object(
  {
    target: PeerSchema,
    direction: DirectionSchema,
    /** Order among the transparent instances at the same point (lower runs first). */
    position: Type.Number(),
  },
  { additionalProperties: false },
);
export type Attachment = Static<typeof AttachmentSchema>;

export const HookModeSchema = Type.Union([
  Type.Literal("tc"),
  Type.Literal("xdp"),
  Type.Literal("xdp-generic"),
]);

export const InstanceStateSchema = Type.Object(
  {
    type: Type.String(),
    version: Type.String(),
    mode: HookModeSchema,
    config: Config,
    ports: Type.Record(Type.String({ pattern: PORT_PATTERN }), PortStateSchema),
    attachment: Type.Optional(AttachmentSchema),
    /** Table entries users configured, by table: restored into the maps at start. */
    tables: Type.Record(Type.String(), Type.Array(Config)),
    slot: Type.Integer({ minimum: 1, maximum: 255 }),
    /** Code loaded with `upgrade --object` (a copy kept in the state directory) instead of the package's. */
    object: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type InstanceState = Static<typeof InstanceStateSchema>;

export const DesiredStateSchema = Type.Object(
  {
    version: Type.Literal(1),
    instances: Type.Record(Type.String({ pattern: NAME_PATTERN }), InstanceStateSchema),
    nextLinkId: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type DesiredState = Static<typeof DesiredStateSchema>;

export const emptyState = (): DesiredState => ({ version: 1, instances: {}, nextLinkId: 0 });

export class StateFileError extends PlexusError {
  override name = "StateFileError";
}

/** Reads and atomically writes the desired state file. */
export class StateStore {
  constructor(readonly path: string) {}

  load(): DesiredState {
    if (!existsSync(this.path)) return emptyState();
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(this.path, "utf8"));
    } catch (e) {
      throw new StateFileError(
        `state file ${this.path} is not valid JSON (${(e as Error).message}); move it away to start empty`,
      );
    }
    const errors = schemaErrors(DesiredStateSchema, doc);
    if (errors.length)
      throw new StateFileError(`state file ${this.path} is invalid: ${errors.slice(0, 5).join("; ")}`);
    return doc as DesiredState;
  }

  /**
   * Writes a temporary file, fsyncs it and renames it over the old one: a reader (or a restarted
   * daemon) sees the old state or the new one, never a mix.
   */
  save(state: DesiredState): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
