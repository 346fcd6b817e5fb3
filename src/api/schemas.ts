// TypeBox schemas of the REST API's requests and responses (also the OpenAPI document's).
import { Type, type Static, type TSchema } from "typebox";
import { DirectionSchema, HookModeSchema, NAME_PATTERN, PORT_PATTERN } from "../core/state.js";

export const Name = Type.String({ pattern: NAME_PATTERN, description: "An instance name" });
export const PortName = Type.String({ pattern: PORT_PATTERN, description: "A port name" });
export const TypeName = Type.String({ pattern: "^[a-z][a-z0-9-]{0,30}$", description: "An NF type" });
export const PeerText = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'A host interface ("eth0") or another instance\'s port ("r1:west")',
});
export const Config = Type.Record(Type.String(), Type.Unknown(), {
  description: "Configuration, validated against the NF type's schema",
});
export const Mode = HookModeSchema;
export const Direction = DirectionSchema;

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(Type.String())),
    verifierLog: Type.Optional(Type.String()),
  },
  { description: "application/problem+json" },
);

export const Counter = Type.Object({
  packets: Type.Integer(),
  bytes: Type.Integer(),
  drops: Type.Integer(),
});

export const Port = Type.Object({
  name: Type.String(),
  index: Type.Integer(),
  peer: Type.Optional(Type.String()),
  config: Config,
  rx: Counter,
  tx: Counter,
});

export const Attachment = Type.Object({
  target: Type.String(),
  direction: Direction,
  position: Type.Number(),
});

export const Instance = Type.Object({
  name: Type.String(),
  type: Type.String(),
  version: Type.String(),
  kind: Type.Union([Type.Literal("standard"), Type.Literal("transparent")]),
  mode: Mode,
  slot: Type.Integer(),
  config: Config,
  ports: Type.Array(Port),
  attachment: Type.Optional(Attachment),
  tables: Type.Array(Type.String()),
  drops: Type.Record(Type.String(), Type.Integer(), { description: "Dropped packets by reason" }),
  through: Type.Optional(
    Type.Object(
      { rx: Counter, tx: Counter },
      { description: "Transparent instances: what went through them" },
    ),
  ),
});

export const NfType = Type.Object({
  name: Type.String(),
  version: Type.String(),
  description: Type.String(),
  kind: Type.Union([Type.Literal("standard"), Type.Literal("transparent")]),
  hooks: Type.Array(Type.String()),
  builtin: Type.Boolean(),
  maxPorts: Type.Integer(),
  config: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "JSON schema" })),
  portConfig: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "JSON schema" })),
  tables: Type.Record(
    Type.String(),
    Type.Object({ description: Type.Optional(Type.String()), writable: Type.Boolean() }),
  ),
  instances: Type.Array(Type.String(), { description: "Instances of this type and version" }),
});

export const Field = Type.Object({ name: Type.String(), format: Type.String() });
export const TableInfo = Type.Object({
  name: Type.String(),
  description: Type.Optional(Type.String()),
  writable: Type.Boolean(),
  key: Type.Array(Field),
  value: Type.Array(Field),
});

export const TableEntry = Type.Record(
  Type.String(),
  Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
  { description: "Table fields by name (GET .../tables lists them)" },
);

export const Event = Type.Object({
  seq: Type.Integer(),
  time: Type.String(),
  kind: Type.String(),
  instance: Type.Optional(Type.String()),
  message: Type.String(),
  data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

export const Link = Type.Object({
  a: Type.String({ description: "INSTANCE:PORT" }),
  b: Type.String({ description: "INSTANCE:PORT or a host interface" }),
  kind: Type.Union([Type.Literal("port"), Type.Literal("interface")]),
});

export const TopologyNode = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal("instance"), Type.Literal("port"), Type.Literal("interface")]),
  name: Type.String(),
  instance: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  mode: Type.Optional(Mode),
  nfKind: Type.Optional(Type.String()),
  ifindex: Type.Optional(Type.Integer()),
  exists: Type.Optional(Type.Boolean()),
});

export const TopologyEdge = Type.Object({
  from: Type.String(),
  to: Type.String(),
  kind: Type.Union([Type.Literal("port"), Type.Literal("link"), Type.Literal("attachment")]),
  direction: Type.Optional(Direction),
  position: Type.Optional(Type.Number()),
});

export const Topology = Type.Object({
  nodes: Type.Array(TopologyNode),
  edges: Type.Array(TopologyEdge),
});

export const Status = Type.Object({
  version: Type.String(),
  pid: Type.Integer(),
  uptimeSeconds: Type.Number(),
  stateDir: Type.String(),
  bpffs: Type.String(),
  instances: Type.Integer(),
  types: Type.Integer(),
});

export const ApplyChange = Type.Object({
  action: Type.String(),
  target: Type.String(),
  detail: Type.Optional(Type.String()),
});
export const ApplyResult = Type.Object({ changes: Type.Array(ApplyChange), dryRun: Type.Boolean() });

// ---- request bodies ----

export const CreateInstanceBody = Type.Object(
  {
    name: Name,
    type: TypeName,
    version: Type.Optional(Type.String({ minLength: 1 })),
    mode: Type.Optional(Mode),
    config: Type.Optional(Config),
    ports: Type.Optional(
      Type.Array(
        Type.Object(
          { name: PortName, peer: Type.Optional(PeerText), config: Type.Optional(Config) },
          { additionalProperties: false },
        ),
        { maxItems: 128 },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ConfigBody = Type.Object(
  {
    config: Config,
    replace: Type.Optional(
      Type.Boolean({ description: "Replace the whole configuration instead of merging into it" }),
    ),
  },
  { additionalProperties: false },
);

export const AddPortBody = Type.Object(
  { name: PortName, peer: Type.Optional(PeerText), config: Type.Optional(Config) },
  { additionalProperties: false },
);

export const ConnectBody = Type.Object(
  {
    port: Type.String({ pattern: "^[^:]+:[^:]+$", description: "INSTANCE:PORT" }),
    peer: PeerText,
  },
  { additionalProperties: false },
);

export const AttachBody = Type.Object(
  {
    target: PeerText,
    direction: Type.Optional(Direction),
    first: Type.Optional(Type.Boolean()),
    last: Type.Optional(Type.Boolean()),
    before: Type.Optional(Name),
    after: Type.Optional(Name),
  },
  { additionalProperties: false },
);

export const UpgradeBody = Type.Object(
  { version: Type.Optional(Type.String({ minLength: 1 })) },
  { additionalProperties: false },
);

// ---- params and queries ----

export const NameParams = Type.Object({ name: Name });
export const PortParams = Type.Object({ name: Name, port: PortName });
export const TableParams = Type.Object({ name: Name, table: Type.String({ pattern: "^[a-z][a-z0-9-]*$" }) });
export const TypeParams = Type.Object({ type: TypeName });
export const VersionQuery = Type.Object({ version: Type.Optional(Type.String({ minLength: 1 })) });
export const EventsQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0, description: "Only events after this sequence number" })),
  instance: Type.Optional(Name),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
});
export const ApplyQuery = Type.Object({
  prune: Type.Optional(Type.Boolean()),
  dryRun: Type.Optional(Type.Boolean()),
});

export const errorResponses = (...codes: number[]): Record<number, TSchema> =>
  Object.fromEntries(codes.map((c) => [c, Problem]));

export type InstanceJson = Static<typeof Instance>;
export type PortJson = Static<typeof Port>;
export type NfTypeJson = Static<typeof NfType>;
export type TopologyJson = Static<typeof Topology>;
export type TableInfoJson = Static<typeof TableInfo>;
export type EventJson = Static<typeof Event>;
export type StatusJson = Static<typeof Status>;
export type ApplyResultJson = Static<typeof ApplyResult>;
export type LinkJson = Static<typeof Link>;
