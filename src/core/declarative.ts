// Declarative topology documents: `plexus export` writes the desired state as one, `plexus apply`
// makes the hypervisor match one. A document is validated as a whole (schema, names, NF types and
// their configuration schemas, peers, attachments, and the data-plane tables it would produce)
// before anything changes; then only the operations that differ run, in a safe order (removals
// first, so interfaces and ports are free again; links and attachments last). Without `prune` a
// document adds and changes; with `prune` it is the whole truth and everything else goes.
import { Type, type Static } from "typebox";
import { native } from "../bpf/sys/native.js";
import { ValidationError } from "./errors.js";
import type { AttachPosition, Hypervisor } from "./hypervisor.js";
import { parsePeer, peerText } from "./hypervisor.js";
import { schemaErrors, withDefaults, type Manifest } from "./nf/manifest.js";
import type { NfPackage } from "./nf/package.js";
import {
  DirectionSchema,
  HookModeSchema,
  NAME_PATTERN,
  PORT_PATTERN,
  type DesiredState,
  type InstanceState,
  type Peer,
} from "./state.js";
import { computeTables, hookOf } from "./topology.js";

const Config = Type.Record(Type.String(), Type.Unknown());

export const PortDocSchema = Type.Object(
  {
    /** "eth0" (a host interface) or "r1:west" (another instance's port). */
    peer: Type.Optional(Type.String({ minLength: 1 })),
    config: Type.Optional(Config),
  },
  { additionalProperties: false },
);

export const AttachDocSchema = Type.Object(
  {
    /** An interface ("eth0") or an instance port ("br0:p1"). */
    target: Type.String({ minLength: 1 }),
    direction: Type.Optional(DirectionSchema),
    /** Order among the transparent instances at the same point: lower runs first. */
    order: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

export const InstanceDocSchema = Type.Object(
  {
    type: Type.String({ pattern: "^[a-z][a-z0-9-]{0,30}$" }),
    version: Type.Optional(Type.String({ minLength: 1 })),
    mode: Type.Optional(HookModeSchema),
    config: Type.Optional(Config),
    ports: Type.Optional(
      Type.Record(Type.String({ pattern: PORT_PATTERN }), PortDocSchema, { additionalProperties: false }),
    ),
    attach: Type.Optional(AttachDocSchema),
    /** Configured table entries, by table. */
    tables: Type.Optional(Type.Record(Type.String(), Type.Array(Config))),
  },
  { additionalProperties: false },
);

export const TopologyDocumentSchema = Type.Object(
  {
    apiVersion: Type.Optional(Type.Literal("plexus/v1")),
    kind: Type.Optional(Type.Literal("Topology")),
    instances: Type.Optional(
      Type.Record(Type.String({ pattern: NAME_PATTERN }), InstanceDocSchema, {
        additionalProperties: false,
      }),
    ),
  },
  { additionalProperties: false },
);

export type TopologyDocument = Static<typeof TopologyDocumentSchema>;
export type InstanceDoc = Static<typeof InstanceDocSchema>;

/** A topology document that cannot be applied; the message lists every problem found. */
export class TopologyDocumentError extends ValidationError {
  override name = "TopologyDocumentError";
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? `topology document: ${problems[0]}`
        : `topology document has ${problems.length} problems: ${problems.slice(0, 20).join("; ")}${problems.length > 20 ? "; ..." : ""}`,
    );
  }
}

export interface ApplyOptions {
  /** Remove instances, ports, peers, attachments, config keys and table entries the document does not mention. */
  prune?: boolean;
  /** Compute the changes without making them. */
  dryRun?: boolean;
}

export interface ApplyChange {
  /** e.g. "create", "delete", "connect", "table-add". */
  action: string;
  /** What it acts on: "w1", "w1:a", "br0 fdb". */
  target: string;
  detail?: string;
}

export interface ApplyResult {
  changes: ApplyChange[];
  dryRun: boolean;
}

// ---- export ----

/** The desired state as a document that `applyDocument` accepts (and applies as a no-op). */
export function exportDocument(state: DesiredState): TopologyDocument {
  const instances: NonNullable<TopologyDocument["instances"]> = {};
  for (const name of Object.keys(state.instances).sort()) {
    const st = state.instances[name];
    const doc: InstanceDoc = { type: st.type, version: st.version, mode: st.mode };
    if (Object.keys(st.config).length) doc.config = st.config;
    const ports = Object.entries(st.ports).sort((a, b) => a[1].index - b[1].index);
    if (ports.length)
      doc.ports = Object.fromEntries(
        ports.map(([pname, p]) => [
          pname,
          {
            ...(p.peer ? { peer: peerText(p.peer) } : {}),
            ...(Object.keys(p.config).length ? { config: p.config } : {}),
          },
        ]),
      );
    if (st.attachment)
      doc.attach = {
        target: peerText(st.attachment.target),
        direction: st.attachment.direction,
        order: st.attachment.position,
      };
    const tables = Object.entries(st.tables).filter(([, e]) => e.length);
    if (tables.length) doc.tables = Object.fromEntries(tables);
    instances[name] = doc;
  }
  return { apiVersion: "plexus/v1", kind: "Topology", instances };
}

// ---- apply ----

/** JSON with sorted object keys, for comparing configurations and entries. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "null";
}
const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b);

function configErrors(
  schema: Manifest["config"],
  config: Record<string, unknown>,
  what: string,
  pkg: NfPackage,
) {
  if (!schema) return Object.keys(config).length ? [`${what}: ${pkg.name} takes no configuration`] : [];
  return schemaErrors({ additionalProperties: false, ...schema }, config).map((e) => `${what}${e}`);
}

/** One planned core operation. */
interface Step extends ApplyChange {
  run(): Promise<unknown>;
}

interface Target {
  state: DesiredState;
  /** Instances created (new, or recreated because their type or mode changes). */
  fresh: Set<string>;
  /** The document's attachment order per instance (undefined: "last", and any order is fine). */
  order: Map<string, number | undefined>;
}

const locks = new WeakMap<Hypervisor, Promise<unknown>>();

/** Makes the hypervisor match `input` (a parsed YAML or JSON document). One apply at a time. */
export function applyDocument(hv: Hypervisor, input: unknown, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const prev = locks.get(hv) ?? Promise.resolve();
  const next = prev.then(
    () => applyNow(hv, input, opts),
    () => applyNow(hv, input, opts),
  );
  locks.set(
    hv,
    next.catch(() => undefined),
  );
  return next;
}

async function applyNow(hv: Hypervisor, input: unknown, opts: ApplyOptions): Promise<ApplyResult> {
  const errors = schemaErrors(TopologyDocumentSchema, input);
  if (errors.length) throw new TopologyDocumentError(errors.map((e) => e.replace(/^\//, "")));
  const doc = input as TopologyDocument;
  const current = hv.desiredState();
  const target = resolveTarget(hv, doc, current, opts.prune ?? false);
  const steps = plan(hv, doc, current, target, opts.prune ?? false);
  if (opts.dryRun) return { changes: steps.map(describe), dryRun: true };
  const done: ApplyChange[] = [];
  const snapshot = exportDocument(current);
  for (const step of steps) {
    try {
      await step.run();
      done.push(describe(step));
    } catch (e) {
      if (done.length === 0) throw e;
      // Put back what this apply changed, so a failed apply leaves things as they were.
      hv.log.warn({ err: e, step: describe(step) }, "apply failed half-way; undoing its changes");
      let undone = true;
      try {
        await applyNow(hv, snapshot, { prune: true });
      } catch (e2) {
        hv.log.error({ err: e2 }, "undoing a failed apply failed");
        undone = false;
      }
      annotate(
        e,
        `${step.action} ${step.target}`,
        undone ? "the apply was undone" : "undoing the changes made before it failed too: check plexus show",
      );
      throw e;
    }
  }
  return { changes: done, dryRun: false };
}

/** Says which step failed and what became of the apply, on the message's first line (a verifier
 * message goes on with its log). */
function annotate(e: unknown, step: string, outcome: string): void {
  if (!(e instanceof Error)) return;
  const [head, ...rest] = e.message.split("\n");
  e.message = [`${step}: ${head} (${outcome})`, ...rest].join("\n");
}

const describe = (s: ApplyChange): ApplyChange => ({
  action: s.action,
  target: s.target,
  ...(s.detail ? { detail: s.detail } : {}),
});

/** The desired state the document leads to, checked as a whole. Throws every problem at once. */
function resolveTarget(hv: Hypervisor, doc: TopologyDocument, current: DesiredState, prune: boolean): Target {
  const problems: string[] = [];
  const next: DesiredState = { version: 1, instances: {}, nextLinkId: current.nextLinkId };
  const fresh = new Set<string>();
  const order = new Map<string, number | undefined>();
  const docs = doc.instances ?? {};
  const pkgs = new Map<string, NfPackage>();
  const usedSlots = new Set<number>();
  /** Instances of the document that could not be resolved (their problems are reported already). */
  const unresolved = new Set<string>();

  if (!prune)
    for (const [name, st] of Object.entries(current.instances))
      if (!docs[name]) next.instances[name] = structuredClone(st);
  for (const [name, d] of Object.entries(docs)) {
    const cur = current.instances[name];
    let pkg: NfPackage;
    try {
      pkg = hv.registry.get(d.type, d.version ?? (cur?.type === d.type ? cur.version : undefined));
    } catch (e) {
      problems.push(`instances/${name}: ${(e as Error).message}`);
      unresolved.add(name);
      continue;
    }
    pkgs.set(name, pkg);
    const mode = d.mode ?? (cur?.type === d.type ? cur.mode : "tc");
    if (!pkg.supports(hookOf(mode)))
      problems.push(
        `instances/${name}: ${pkg.name} cannot run in ${mode} mode (it supports ${pkg.hooks.join(", ")})`,
      );
    const keep = cur && cur.type === d.type && cur.mode === mode;
    if (!keep) fresh.add(name);
    const base: InstanceState | undefined = keep ? structuredClone(cur) : undefined;
    const config =
      d.config !== undefined || prune || !base
        ? withDefaults(pkg.manifest.config, d.config ?? {})
        : base.config;
    problems.push(...configErrors(pkg.manifest.config, config, `instances/${name}/config`, pkg));
    const st: InstanceState = {
      type: pkg.name,
      version: pkg.version,
      mode,
      config,
      ports: {},
      tables: base?.tables ?? {},
      slot: base?.slot ?? 0,
    };
    // Ports: the document's, plus (without prune) the ones it does not mention.
    const docPorts = d.ports ?? {};
    if (base && !prune) for (const [pn, p] of Object.entries(base.ports)) if (!docPorts[pn]) st.ports[pn] = p;
    for (const [pn, p] of Object.entries(docPorts)) {
      const old = base?.ports[pn];
      const pconfig =
        p.config !== undefined || prune || !old
          ? withDefaults(pkg.manifest.portConfig, p.config ?? {})
          : old.config;
      problems.push(
        ...configErrors(pkg.manifest.portConfig, pconfig, `instances/${name}/ports/${pn}/config`, pkg),
      );
      st.ports[pn] = { index: old?.index ?? -1, config: pconfig };
      let peer: Peer | undefined;
      if (p.peer !== undefined) {
        try {
          peer = parsePeer(p.peer);
        } catch (e) {
          problems.push(`instances/${name}/ports/${pn}/peer: ${(e as Error).message}`);
        }
      } else if (!prune && old?.peer) peer = old.peer;
      if (peer) st.ports[pn].peer = peer;
    }
    const portCount = Object.keys(st.ports).length;
    if (pkg.manifest.kind === "transparent" && portCount)
      problems.push(
        `instances/${name}/ports: ${name} is a transparent ${pkg.name}: it has no ports (use attach)`,
      );
    const max = pkg.manifest.maxPorts ?? 128;
    if (portCount > max)
      problems.push(`instances/${name}/ports: a ${pkg.name} has at most ${max} ports, not ${portCount}`);
    // Attachment.
    if (d.attach) {
      if (pkg.manifest.kind !== "transparent")
        problems.push(
          `instances/${name}/attach: ${name} is a standard ${pkg.name}; only transparent instances attach`,
        );
      try {
        const t = parsePeer(d.attach.target);
        const direction = d.attach.direction ?? "ingress";
        const was = base?.attachment;
        const unchanged =
          was &&
          peerText(was.target) === peerText(t) &&
          was.direction === direction &&
          (d.attach.order === undefined || d.attach.order === was.position);
        st.attachment = {
          target: t,
          direction,
          position: unchanged ? was.position : (d.attach.order ?? Infinity),
        };
        order.set(name, d.attach.order);
      } catch (e) {
        problems.push(`instances/${name}/attach/target: ${(e as Error).message}`);
      }
    } else if (base?.attachment && !prune) st.attachment = base.attachment;
    // Tables: only names are checked here; entries are checked by the NF when they are added.
    const tables = pkg.manifest.tables ?? {};
    for (const t of Object.keys(d.tables ?? {}))
      if (!tables[t])
        problems.push(
          `instances/${name}/tables/${t}: ${pkg.name} has no table '${t}' (tables: ${Object.keys(tables).join(", ") || "none"})`,
        );
    next.instances[name] = st;
  }

  // Slots and port indexes (for the table check below; the core assigns the real ones).
  for (const st of Object.values(next.instances)) if (st.slot) usedSlots.add(st.slot);
  let slot = 1;
  for (const st of Object.values(next.instances)) {
    if (st.slot) continue;
    while (usedSlots.has(slot)) slot++;
    st.slot = slot;
    usedSlots.add(slot);
  }
  if (usedSlots.size > 255)
    problems.push(`${usedSlots.size} instances are more than the 255 a daemon can run`);
  for (const st of Object.values(next.instances)) {
    const used = new Set(Object.values(st.ports).map((p) => p.index));
    let i = 0;
    for (const p of Object.values(st.ports))
      if (p.index < 0) {
        while (used.has(i)) i++;
        p.index = i;
        used.add(i);
      }
  }

  problems.push(...resolvePeers(next, current, unresolved));

  for (const [name, st] of Object.entries(next.instances)) {
    const a = st.attachment;
    if (!a) continue;
    if ("instance" in a.target) {
      if (!next.instances[a.target.instance]?.ports[a.target.port])
        problems.push(
          `instances/${name}/attach/target: ${peerText(a.target)} does not exist in the resulting topology`,
        );
    } else if (native().ifNameToIndex(a.target.iface) === 0)
      problems.push(
        `instances/${name}/attach/target: interface '${a.target.iface}' does not exist in the daemon's network namespace`,
      );
  }

  if (problems.length === 0) {
    // The framework's tables for the result: catches XDP/TC mixes the document would create.
    try {
      const probe = structuredClone(next);
      for (const st of Object.values(probe.instances))
        if (st.attachment && !Number.isFinite(st.attachment.position)) st.attachment.position = 1e9;
      computeTables(probe, {
        ifindex: (n) => (/^pxl\d+[ab]$/.test(n) ? 1 : native().ifNameToIndex(n) || undefined),
      });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  if (problems.length) throw new TopologyDocumentError(problems);
  return { state: next, fresh, order };
}

/**
 * Makes peers symmetric (a link written on one side only is implied on the other) and checks that
 * every peer exists and is used once. Link ids: kept for links that stay, new ones for new links.
 */
function resolvePeers(next: DesiredState, current: DesiredState, unresolved: Set<string>): string[] {
  const problems: string[] = [];
  const ifaceUser = new Map<string, string>();
  for (const [name, st] of Object.entries(next.instances))
    for (const [pn, p] of Object.entries(st.ports)) {
      delete p.link;
      const here = `${name}:${pn}`;
      if (!p.peer) continue;
      if ("iface" in p.peer) {
        const other = ifaceUser.get(p.peer.iface);
        if (other) problems.push(`interface ${p.peer.iface} is the peer of both ${other} and ${here}`);
        ifaceUser.set(p.peer.iface, here);
        if (/^pxl\d+[ab]$/.test(p.peer.iface))
          problems.push(
            `${here}: ${p.peer.iface} is a plexus link interface; connect to the instance port instead`,
          );
        else if (native().ifNameToIndex(p.peer.iface) === 0)
          problems.push(
            `${here}: interface '${p.peer.iface}' does not exist in the daemon's network namespace`,
          );
        continue;
      }
      const there = `${p.peer.instance}:${p.peer.port}`;
      if (there === here) {
        problems.push(`${here}: cannot connect a port to itself`);
        continue;
      }
      const q = next.instances[p.peer.instance]?.ports[p.peer.port];
      if (!q) {
        if (!unresolved.has(p.peer.instance))
          problems.push(`${here}: peer ${there} does not exist in the resulting topology`);
        continue;
      }
      if (!q.peer) q.peer = { instance: name, port: pn };
      else if (peerText(q.peer) !== here)
        problems.push(`${here} names ${there} as its peer, but ${there} is connected to ${peerText(q.peer)}`);
    }
  // Link ids: a link that stays keeps its id (and veth pair).
  for (const [name, st] of Object.entries(next.instances))
    for (const [pn, p] of Object.entries(st.ports)) {
      if (!p.peer || !("instance" in p.peer) || p.link !== undefined) continue;
      const q = next.instances[p.peer.instance]?.ports[p.peer.port];
      if (!q) continue;
      const old = current.instances[name]?.ports[pn];
      const keepId =
        old?.peer && peerText(old.peer) === peerText(p.peer) && old.link !== undefined ? old.link : undefined;
      const id = keepId ?? next.nextLinkId++;
      p.link = id;
      q.link = id;
    }
  return problems;
}

/** The operations from `current` to the target, in a safe order. */
function plan(
  hv: Hypervisor,
  doc: TopologyDocument,
  current: DesiredState,
  target: Target,
  prune: boolean,
): Step[] {
  const next = target.state;
  const steps: Step[] = [];
  const step = (action: string, tgt: string, run: () => Promise<unknown>, detail?: string) =>
    steps.push({ action, target: tgt, run, ...(detail ? { detail } : {}) });
  const gone = (name: string) => !next.instances[name] || target.fresh.has(name);
  const peerOf = (state: DesiredState, name: string, port: string): string | undefined => {
    const p = state.instances[name]?.ports[port]?.peer;
    return p ? peerText(p) : undefined;
  };

  // 1. Detach what moves or goes.
  for (const [name, st] of Object.entries(current.instances)) {
    if (!st.attachment || gone(name)) continue;
    const a = next.instances[name].attachment;
    if (!a || !same(a, st.attachment)) step("detach", name, () => hv.detach(name));
  }
  // 2. Disconnect links and interfaces that change (once per link), on instances that stay.
  const cut = new Set<string>();
  for (const [name, st] of Object.entries(current.instances))
    for (const [pn, p] of Object.entries(st.ports)) {
      if (!p.peer || gone(name) || cut.has(`${name}:${pn}`)) continue;
      if ("instance" in p.peer && gone(p.peer.instance)) continue; // deleting the peer cuts it
      if (!next.instances[name].ports[pn]) continue; // deleting the port cuts it
      if (peerOf(next, name, pn) === peerText(p.peer)) continue;
      cut.add(`${name}:${pn}`);
      cut.add(peerText(p.peer));
      step("disconnect", `${name}:${pn}`, () => hv.disconnect(name, pn), `from ${peerText(p.peer)}`);
    }
  // 3. Ports and instances that go.
  for (const [name, st] of Object.entries(current.instances)) {
    if (gone(name)) continue;
    for (const pn of Object.keys(st.ports))
      if (!next.instances[name].ports[pn])
        step("delete-port", `${name}:${pn}`, () => hv.deletePort(name, pn));
  }
  for (const name of Object.keys(current.instances))
    if (gone(name))
      step(
        "delete",
        name,
        () => hv.deleteInstance(name),
        next.instances[name] ? "its type or mode changes: it is created again" : undefined,
      );
  // 4. Upgrades, creations and configuration.
  for (const [name, st] of Object.entries(next.instances)) {
    const cur = current.instances[name];
    if (target.fresh.has(name)) {
      const ports = Object.entries(st.ports)
        .sort((a, b) => a[1].index - b[1].index)
        .map(([pn, p]) => ({
          name: pn,
          config: p.config,
          ...(p.peer && "iface" in p.peer ? { peer: p.peer.iface } : {}),
        }));
      step(
        "create",
        name,
        () =>
          hv.createInstance({
            name,
            type: st.type,
            version: st.version,
            mode: st.mode,
            config: st.config,
            ports,
          }),
        `${st.type} ${st.version} (${st.mode})`,
      );
      continue;
    }
    if (!cur) continue;
    if (cur.version !== st.version)
      step(
        "upgrade",
        name,
        () => hv.upgrade(name, { version: st.version }),
        `${cur.version} -> ${st.version}`,
      );
    if (!same(cur.config, st.config))
      step("configure", name, () => hv.configureInstance(name, st.config, { replace: true }));
    for (const [pn, p] of Object.entries(st.ports)) {
      const old = cur.ports[pn];
      if (!old) {
        const peer = p.peer && "iface" in p.peer ? p.peer.iface : undefined;
        step(
          "add-port",
          `${name}:${pn}`,
          () => hv.addPort(name, pn, { config: p.config, ...(peer ? { peer } : {}) }),
          peer ? `-> ${peer}` : undefined,
        );
      } else if (!same(old.config, p.config))
        step("configure-port", `${name}:${pn}`, () =>
          hv.configurePort(name, pn, p.config, { replace: true }),
        );
    }
  }
  // 5. Connections that are new (interfaces of new ports were connected when they were added).
  const joined = new Set<string>();
  for (const [name, st] of Object.entries(next.instances))
    for (const [pn, p] of Object.entries(st.ports)) {
      if (!p.peer) continue;
      const here = `${name}:${pn}`;
      const there = peerText(p.peer);
      if (joined.has(here)) continue;
      const before = target.fresh.has(name) ? undefined : current.instances[name]?.ports[pn];
      const peerFresh = "instance" in p.peer && target.fresh.has(p.peer.instance);
      const keptPeer = before?.peer && peerText(before.peer) === there && !cut.has(here) && !peerFresh;
      if (keptPeer) continue;
      if ("iface" in p.peer && !before) continue; // connected at create / add-port
      joined.add(here);
      joined.add(there);
      step("connect", here, () => hv.connect(name, pn, there), `to ${there}`);
    }
  // 6. Attachments.
  for (const [name, st] of Object.entries(next.instances)) {
    const a = st.attachment;
    if (!a) continue;
    const was = target.fresh.has(name) ? undefined : current.instances[name]?.attachment;
    if (was && same(was, a)) continue;
    const o = target.order.get(name);
    const position: AttachPosition = o === undefined ? { last: true } : { position: o };
    const text = peerText(a.target);
    step("attach", name, () => hv.attach(name, text, a.direction, position), `to ${text} ${a.direction}`);
  }
  // 7. Table entries: the document's that differ, and (prune) the configured ones it omits.
  for (const [name, d] of Object.entries(doc.instances ?? {})) {
    const cur = target.fresh.has(name) ? undefined : current.instances[name];
    for (const [table, entries] of Object.entries(d.tables ?? {})) {
      const have = cur?.tables[table] ?? [];
      for (const e of entries)
        if (!have.some((h) => same(h, e)))
          step("table-add", `${name} ${table}`, () => hv.tableAdd(name, table, e), canonical(e));
    }
    if (!prune || !cur) continue;
    for (const [table, entries] of Object.entries(cur.tables)) {
      const want = d.tables?.[table] ?? [];
      const wantKeys = new Set(want.map((w) => tryKey(hv, name, table, w)));
      for (const e of entries) {
        if (want.some((w) => same(w, e))) continue;
        // An entry of the document with the same key replaces it: nothing to delete.
        const key = tryKey(hv, name, table, e);
        if (key !== undefined && wantKeys.has(key)) continue;
        step("table-delete", `${name} ${table}`, () => hv.tableDelete(name, table, e), canonical(e));
      }
    }
  }
  return steps;
}

function tryKey(hv: Hypervisor, name: string, table: string, e: Record<string, unknown>): string | undefined {
  try {
    return hv.tableEntryKey(name, table, e);
  } catch {
    return undefined;
  }
}
