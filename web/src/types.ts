// The shapes of the API answers the console reads (a subset of src/api/schemas.ts, kept here so the
// browser build does not pull in the server's schema library).

export interface Counter {
  packets: number;
  bytes: number;
  drops: number;
}

export interface PortJson {
  name: string;
  index: number;
  peer?: string;
  config: Record<string, unknown>;
  rx: Counter;
  tx: Counter;
}

export interface InstanceJson {
  name: string;
  type: string;
  version: string;
  kind: "standard" | "transparent";
  mode: string;
  slot: number;
  config: Record<string, unknown>;
  ports: PortJson[];
  attachment?: { target: string; direction: string; position: number };
  tables: string[];
  drops: Record<string, number>;
  through?: { rx: Counter; tx: Counter };
}

export interface TopologyNode {
  id: string;
  kind: "instance" | "port" | "interface";
  name: string;
  instance?: string;
  type?: string;
  mode?: string;
  nfKind?: string;
  ifindex?: number;
  exists?: boolean;
}

export interface TopologyEdge {
  from: string;
  to: string;
  kind: "port" | "link" | "attachment";
  direction?: string;
  position?: number;
}

export interface TopologyJson {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface PlexusEvent {
  seq: number;
  time: string;
  kind: string;
  instance?: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface TableField {
  name: string;
  format: string;
}

export interface TableInfo {
  name: string;
  description?: string;
  writable: boolean;
  key: TableField[];
  value: TableField[];
}

export type TableRow = Record<string, unknown>;

export interface Problem {
  status: number;
  title?: string;
  detail?: string;
}
