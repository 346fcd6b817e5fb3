// One running instance: its loaded program and maps (pinned under <root>/instances/<name>/ so the
// data plane outlives the daemon and a restarted daemon finds them), its control plane, and the
// InstanceContext its control plane sees.
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { BpfMap } from "../bpf/map/map.js";
import { BpfObject } from "../bpf/object/object.js";
import type { LoadedObject } from "../bpf/object/load.js";
import type { BpfProgram } from "../bpf/prog/program.js";
import { pinFd, unpinPath } from "../bpf/pin.js";
import { SHARED_MAPS, type Framework } from "./dataplane/framework.js";
import { NotFoundError, ValidationError } from "./errors.js";
import type { ControlPlane, InstanceContext, PortInfo } from "./nf-api.js";
import type { NfPackage } from "./nf/package.js";
import type { InstanceState } from "./state.js";
import { hookOf, type Hook } from "./topology.js";

/** What an instance needs from the hypervisor around it. */
export interface InstanceHost {
  framework: Framework;
  ports(instance: string): PortInfo[];
  send(instance: string, port: string | number, frame: Uint8Array): void;
  event(kind: string, message: string, instance: string, data?: Record<string, unknown>): void;
  log: Logger;
}

const SHARED = new Set<string>(SHARED_MAPS);
/** bpffs refuses '.' in names (global data maps are called like "bridge.bss"). */
const pinName = (map: string) => map.replace(/\./g, "_");

export class InstanceRuntime {
  private timers: NodeJS.Timeout[] = [];
  readonly context: InstanceContext;

  private constructor(
    private readonly host: InstanceHost,
    readonly name: string,
    public state: InstanceState,
    public pkg: NfPackage,
    public loaded: LoadedObject,
    public program: BpfProgram,
    public control: ControlPlane,
  ) {
    const current = () => this.state;
    this.context = {
      name,
      get type() {
        return current().type;
      },
      get mode() {
        return current().mode;
      },
      get slot() {
        return current().slot;
      },
      get config() {
        return current().config;
      },
      ports: () => host.ports(name),
      port: (p) => host.ports(name).find((x) => x.name === p || x.index === p),
      map: (m) => this.map(m),
      program: (p) => this.loaded.program(p),
      send: (port, frame) => host.send(name, port, frame),
      countDrop: (reason, packets = 1) => host.framework.countDrop(this.state.slot, reason, packets),
      event: (kind, message, data) => host.event(`nf.${kind}`, message, name, data),
      log: host.log.child({ instance: name }),
    };
  }

  get hook(): Hook {
    return hookOf(this.state.mode);
  }

  static pinDir(fw: Framework, name: string): string {
    return join(fw.root, "instances", name);
  }

  /** Loads the instance's object for its hook, reusing its pinned maps when they exist. */
  private static async loadObject(
    fw: Framework,
    name: string,
    object: string,
  ): Promise<{ loaded: LoadedObject; program: BpfProgram }> {
    const dir = InstanceRuntime.pinDir(fw, name);
    mkdirSync(dir, { recursive: true });
    const obj = BpfObject.open(object);
    const pinPaths: Record<string, string> = {};
    for (const m of obj.spec.maps.keys()) if (!SHARED.has(m)) pinPaths[m] = join(dir, pinName(m));
    const loaded = await obj.load({ replaceMaps: fw.sharedMaps(), pinPaths, pinPolicy: "reuse" });
    const entry = [...obj.spec.programs.values()].find((p) => p.section === "xdp" || p.section === "tc");
    if (!entry) {
      loaded.close();
      throw new ValidationError(
        `${obj.file}: no entry program (a PX_NF() function in section "xdp" or "tc")`,
      );
    }
    return { loaded, program: loaded.program(entry.name) };
  }

  static async load(
    host: InstanceHost,
    name: string,
    state: InstanceState,
    pkg: NfPackage,
    object?: string,
  ): Promise<InstanceRuntime> {
    const hook = hookOf(state.mode);
    if (!pkg.supports(hook))
      throw new ValidationError(
        `${pkg.name} does not support the ${hook} hook (it supports ${pkg.hooks.join(", ")})`,
      );
    const control = await pkg.control();
    const { loaded, program } = await InstanceRuntime.loadObject(
      host.framework,
      name,
      object ?? pkg.object(hook),
    );
    const rt = new InstanceRuntime(host, name, state, pkg, loaded, program, control);
    rt.pinProgram();
    return rt;
  }

  /** The program pinned at <dir>/prog, replaced atomically. */
  private pinProgram(): void {
    const dir = InstanceRuntime.pinDir(this.host.framework, this.name);
    const tmp = join(dir, "prog_new");
    unpinPath(tmp);
    pinFd(this.program.fd, tmp);
    renameSync(tmp, join(dir, "prog"));
  }

  map(name: string): BpfMap {
    const m = this.loaded.maps.get(name);
    if (!m || SHARED.has(name)) throw new NotFoundError(`${this.name}: no map '${name}'`);
    return m;
  }

  install(): void {
    this.host.framework.install(this.state.slot, this.hook, this.program);
  }

  async init(adopted: boolean): Promise<void> {
    await this.control.init?.(this.context, adopted);
    this.startTimers();
  }

  private startTimers(): void {
    for (const t of this.control.timers ?? []) {
      const h = setInterval(() => {
        Promise.resolve()
          .then(() => t.run(this.context))
          .catch((e: unknown) => this.context.log.error({ err: e }, "timer failed"));
      }, t.intervalMs);
      h.unref();
      this.timers.push(h);
    }
  }

  private stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /**
   * Loads new code (another package version, or an object file) with this instance's maps and
   * swaps it into the patch panel in one step. A map the new code declares differently is refused
   * before anything changes.
   */
  async upgrade(pkg: NfPackage, object?: string): Promise<void> {
    const { loaded, program } = await InstanceRuntime.loadObject(
      this.host.framework,
      this.name,
      object ?? pkg.object(this.hook),
    );
    const newControl = pkg === this.pkg ? this.control : await pkg.control();
    const old = this.loaded;
    this.host.framework.install(this.state.slot, this.hook, program);
    this.loaded = loaded;
    this.program = program;
    this.pinProgram();
    old.close();
    if (newControl !== this.control) {
      this.stopTimers();
      await this.control.destroy?.(this.context);
      this.control = newControl;
      this.pkg = pkg;
      await this.init(true);
    }
    this.pkg = pkg;
  }

  /** Stops this process's work for the instance, leaving the data plane running. */
  close(): void {
    this.stopTimers();
    this.loaded.close();
  }

  /** Removes the instance from the data plane and deletes its pins. */
  async destroy(): Promise<void> {
    this.stopTimers();
    try {
      await this.control.destroy?.(this.context);
    } catch (e) {
      this.context.log.error({ err: e }, "control plane destroy failed");
    }
    this.host.framework.uninstall(this.state.slot, this.hook);
    this.loaded.close();
    rmSync(InstanceRuntime.pinDir(this.host.framework, this.name), { recursive: true, force: true });
  }
}
