// The hypervisor commands of the real `plexus` binary against a real daemon: every command's happy
// path, typed key=value arguments, table commands, apply/export, events --follow, completion,
// help with examples, and one-line errors with exit codes 2 (usage) and 1 (failures).
import assert from "node:assert/strict";
import { spawn as spawnChild } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import type { InstanceJson } from "../../src/api/schemas.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { run } from "../../src/testbed/netns.js";
import { startLab, type Lab } from "../api/lab.js";
import { testPackage } from "../api/packages.js";

const BIN = join(projectRoot, "bin", "plexus.js");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe("plexus hypervisor commands", () => {
  let lab: Lab;
  let scratch: string;
  before(async () => {
    lab = await startLab(3);
    scratch = mkdtempSync(join(tmpdir(), "px-cli-"));
  });
  after(async () => {
    try {
      await lab?.cleanup();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  // Every test starts from an empty topology, whatever the one before left.
  beforeEach(async () => {
    for (const i of await lab.api.get<InstanceJson[]>("/v1/instances"))
      await lab.api.delete(`/v1/instances/${i.name}`);
  });

  /** Runs `plexus ARGS` against the lab's daemon (PLEXUS_SOCKET), asynchronously. */
  const px = async (...args: string[]): Promise<Result> => {
    const r = await run("env", [`PLEXUS_SOCKET=${lab.home.socket}`, process.execPath, BIN, ...args], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = async (...args: string[]): Promise<string> => {
    const r = await px(...args);
    assert.equal(r.code, 0, `plexus ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const fails = async (code: number, message: RegExp, ...args: string[]): Promise<void> => {
    const r = await px(...args);
    assert.equal(r.code, code, `plexus ${args.join(" ")} should exit ${code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message);
    if (code === 1) assert.match(r.stderr, /^plexus: [^\n]+\n$/, "one plain line");
  };
  const instance = async (name: string) => JSON.parse(await ok("show", name, "-o", "json")) as InstanceJson;

  test("nf: install a package directory (built on the way) and a tarball, list, show, remove", async () => {
    const dir = join(scratch, "apiwire");
    cpSync(join(projectRoot, "tests", "fixtures", "api_wire"), dir, { recursive: true });
    assert.match(await ok("nf", "install", dir), /installed apiwire 1\.0\.0 \(standard\)/);
    const filter = await testPackage("api_filter");
    const tgz = join(scratch, "apifilter.tar.gz");
    writeFileSync(tgz, filter.tarball);
    const [installed, list, show, json] = await Promise.all([
      ok("nf", "install", tgz),
      ok("nf", "list"),
      ok("nf", "show", "apiwire"),
      ok("nf", "list", "-o", "json"),
    ]);
    assert.match(installed, /installed apifilter 1\.0\.0 \(transparent\)/);
    assert.match(list, /^apiwire\s+1\.0\.0\s+standard\s+tc,xdp\s+installed/m);
    assert.match(list, /^wire\s+1\.0\.0\s+standard\s+tc,xdp\s+built-in/m);
    assert.match(show, /level \(integer\) default 1/);
    assert.match(show, /notes: Numbered notes/);
    assert.ok((JSON.parse(json) as { name: string }[]).some((t) => t.name === "wire"));
    const v2 = await testPackage("api_wire", { version: "2.0.0" });
    const v2file = join(scratch, "apiwire-2.tar.gz");
    writeFileSync(v2file, v2.tarball);
    await ok("nf", "install", v2file);
    assert.match(await ok("nf", "remove", "apiwire", "--version", "2.0.0"), /removed apiwire 2\.0\.0/);
    await fails(1, /^plexus: wire 1\.0\.0 is built in and cannot be removed/, "nf", "remove", "wire");
    await fails(1, /^plexus: no network function type 'nope'/, "nf", "show", "nope");
    await fails(2, /does not exist/, "nf", "install", join(scratch, "missing"));
  });

  test("create, config, ports, connect, show and delete, with typed key=value", async () => {
    assert.match(
      await ok(
        "create",
        "apiwire",
        "w1",
        "level=4",
        "verbose=on",
        "label=edge",
        "--port",
        `a=${lab.iface(0)}`,
      ),
      /created w1 \(apiwire 1\.0\.0, tc\)/,
    );
    assert.deepEqual((await instance("w1")).config, { level: 4, verbose: true, label: "edge" });
    assert.match(await ok("config", "w1"), /level=4 verbose=true label=edge/);
    assert.match(await ok("config", "w1", "level=6"), /level=6/);
    assert.match(await ok("config", "w1", "--replace", "label=x"), /^w1: label=x level=1$/m);
    assert.match(await ok("port", "add", "w1", "b", "weight=2", "tags=red,blue"), /added w1:b \(port 1\)/);
    assert.deepEqual((await instance("w1")).ports[1].config, { weight: 2, tags: ["red", "blue"] });
    assert.match(await ok("port", "set", "w1", "b", "weight=3"), /w1:b: weight=3 tags=red,blue/);
    assert.match(await ok("create", "wire", "w2", "--mode", "xdp"), /created w2 \(wire 1\.0\.0, xdp\)/);
    assert.match(await ok("port", "add", "w2", "a"), /added w2:a/);
    assert.match(
      await ok("port", "add", "w2", "b", "--peer", lab.iface(1)),
      new RegExp(`added w2:b \\(port 1\\) -- ${lab.iface(1)}`),
    );
    assert.match(await ok("connect", "w1:b", "w2:a"), /connected w1:b -- w2:a/);
    assert.equal(await lab.ping(0, 1, 3), 3);

    const [list, detail, ports, yaml, topo, dot] = await Promise.all([
      ok("show"),
      ok("show", "w1"),
      ok("port", "list", "w1"),
      ok("show", "-o", "yaml"),
      ok("topology"),
      ok("topology", "-o", "dot"),
    ]);
    assert.match(list, /^NAME\s+TYPE\s+VERSION\s+MODE\s+PORTS/m);
    assert.match(list, /^w1\s+apiwire\s+1\.0\.0\s+tc\s+2\s+-\s+\d+/m);
    assert.match(list, /^w2\s+wire\s+1\.0\.0\s+xdp\s+2/m);
    assert.match(detail, /^w1: apiwire 1\.0\.0 \(standard, tc mode, slot \d+\)$/m);
    assert.match(detail, new RegExp(`^a\\s+${lab.iface(0)}\\s+[1-9]`, "m"), "port a counted the pings");
    assert.match(detail, /^b\s+w2:a\s+/m);
    assert.match(ports, /^b\s+1\s+w2:a/m);
    assert.deepEqual(
      (parseYaml(yaml) as InstanceJson[]).map((i) => i.name),
      ["w1", "w2"],
    );
    assert.match(topo, /^w1 \(apiwire, tc\)\n {2}a -- \S+\n {2}b -- w2:a$/m);
    assert.match(topo, new RegExp(`interfaces not in the topology: ${lab.iface(2)}`));
    assert.match(dot, /^graph plexus \{/);
    assert.match(dot, /"port:w1:b" -- "port:w2:a";/);

    assert.match(await ok("disconnect", "w2:a"), /disconnected w2:a/);
    assert.equal(await lab.ping(0, 1, 2), 0);
    assert.match(await ok("port", "del", "w2", "a"), /deleted w2:a/);
    assert.match(await ok("delete", "w1", "w2"), /deleted w1\ndeleted w2/);
    assert.match(await ok("show"), /no instances/);
  });

  test("attach and detach with an order; table commands in the kubectl style", async () => {
    await ok("create", "wire", "w1", "--port", `a=${lab.iface(0)}`, "--port", `b=${lab.iface(1)}`);
    await ok("create", "apifilter", "f1");
    await ok("create", "apifilter", "f2");
    assert.match(await ok("attach", "f1", "w1:a"), /attached f1 to w1:a ingress/);
    await ok("attach", "f2", "w1:a", "--first");
    const [p1, p2] = [
      (await instance("f1")).attachment?.position,
      (await instance("f2")).attachment?.position,
    ];
    assert.ok(p2 !== undefined && p1 !== undefined && p2 < p1, "--first put f2 before f1");
    assert.match(await ok("topology"), /f2 \(apifilter, tc, transparent\)\n {2}attached to w1:a ingress/);
    // Tables: the first positional is the key, then name value pairs or name=value.
    assert.match(await ok("f1", "block", "add", "2048"), /added to f1 block: ethertype=2048/);
    assert.equal(await lab.ping(1, 0, 2), 0, "IPv4 blocked on w1:a ingress");
    assert.match(await ok("f1", "block"), /^ETHERTYPE\s+HITS\n2048\s+[1-9]/m);
    const rows = JSON.parse(await ok("table", "f1", "block", "show", "-o", "json")) as {
      ethertype: number;
    }[];
    assert.deepEqual(
      rows.map((r) => r.ethertype),
      [2048],
    );
    assert.match(await ok("f1", "block", "del", "ethertype=2048"), /deleted from f1 block: ethertype=2048/);
    assert.equal(await lab.ping(1, 0, 2), 2);
    assert.match(await ok("f1", "block", "show"), /f1 block: no entries/);
    assert.match(await ok("detach", "f2"), /detached f2/);
    assert.equal((await instance("f2")).attachment, undefined);
    await fails(1, /^plexus: f1 has no table 'nope' \(tables: block\)/, "f1", "nope", "show");
    await fails(2, /'frob' is not a table action/, "f1", "block", "frob");
    await fails(2, /'hits' needs a value/, "f1", "block", "add", "1", "hits");
    await fails(1, /field 'ethertype': out of range/, "f1", "block", "add", "70000");
    await ok("delete", "f1", "f2", "w1");
  });

  test("upgrade to a version and from an object file; events, also followed", async () => {
    await ok("create", "apiwire", "u1", "--port", `a=${lab.iface(0)}`, "--port", `b=${lab.iface(1)}`);
    await ok("u1", "notes", "add", "3", "value", "30", "flag", "yes");
    const v3 = await testPackage("api_wire", { version: "3.0.0" });
    const file = join(scratch, "apiwire-3.tar.gz");
    writeFileSync(file, v3.tarball);
    await ok("nf", "install", file);

    const follow = spawnChild(
      process.execPath,
      [BIN, "events", "--follow", "--instance", "u1", "-o", "json"],
      {
        env: { ...process.env, PLEXUS_SOCKET: lab.home.socket },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const seen: { kind: string; message: string }[] = [];
    const upgraded = new Promise<void>((resolve) => {
      let buf = "";
      follow.stdout.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const l of lines) {
          seen.push(JSON.parse(l) as { kind: string; message: string });
          if (seen.filter((e) => e.kind === "instance.upgraded").length >= 2) resolve();
        }
      });
    });
    const exited = new Promise<number | null>((resolve) => follow.on("exit", (code) => resolve(code)));
    // The stream is live once the backlog (u1's creation) arrived.
    while (!seen.some((e) => e.kind === "instance.created")) await new Promise((r) => setTimeout(r, 50));

    assert.match(await ok("upgrade", "u1", "--version", "3.0.0"), /upgraded u1 \(apiwire 3\.0\.0\)/);
    const obj = join(v3.dir, "build", "apiwire.tc.o");
    assert.match(
      await ok("upgrade", "u1", "--object", obj),
      /upgraded u1 \(apiwire 3\.0\.0, code from .*apiwire\.tc\.o\)/,
    );
    await upgraded;
    follow.kill("SIGINT");
    assert.equal(await exited, 0, "Ctrl-C ends --follow cleanly");
    assert.ok(
      seen.every((e) => e.kind !== "daemon.started"),
      "only u1's events",
    );
    assert.equal(await lab.ping(0, 1, 3), 3);
    assert.match(await ok("u1", "notes", "show"), /^3\s+30\s+true/m, "the entry survived both upgrades");
    assert.match(await ok("events", "--limit", "3"), /instance\.upgraded\s+u1\s+upgraded u1/);
    await fails(
      2,
      /give --object or --version, not both/,
      "upgrade",
      "u1",
      "--object",
      obj,
      "--version",
      "1.0.0",
    );
    await ok("delete", "u1");
    await ok("nf", "remove", "apiwire", "--version", "3.0.0");
  });

  test("apply -f and export: idempotent, dry run, prune", async () => {
    const doc = join(scratch, "topology.yaml");
    writeFileSync(
      doc,
      `apiVersion: plexus/v1
kind: Topology
instances:
  r1:
    type: apiwire
    config: { level: 2 }
    ports:
      a: { peer: ${lab.iface(0)} }
      b: { peer: "r2:a", config: { tags: [x] } }
    tables:
      notes: [{ id: 9, value: 90 }]
  r2:
    type: wire
    ports:
      a: {}
      b: { peer: ${lab.iface(1)} }
`,
    );
    const first = await ok("apply", "-f", doc);
    assert.match(first, /^create r1 \(apiwire 1\.0\.0 \(tc\)\)$/m);
    assert.match(first, /^connect r1:b \(to r2:a\)$/m);
    assert.match(first, /^4 changes applied$/m);
    assert.equal(await lab.ping(0, 1, 3), 3);
    assert.match(await ok("apply", "-f", doc), /^no changes: the topology already matches$/m);
    const exported = await ok("export");
    const exportFile = join(scratch, "export.json");
    await ok("export", "-o", "json", "-f", exportFile);
    assert.deepEqual(JSON.parse(readFileSync(exportFile, "utf8")), parseYaml(exported));
    await ok("create", "wire", "extra");
    const dry = await ok("apply", "-f", doc, "--prune", "--dry-run");
    assert.match(dry, /^would delete extra$/m);
    assert.match(dry, /1 change planned \(dry run\)/);
    assert.match(await ok("show"), /^extra\s/m, "a dry run deletes nothing");
    assert.match(await ok("apply", "-f", doc, "--prune"), /^delete extra$/m);
    assert.equal(await ok("export"), exported);
    // From stdin, and errors: a file that is not YAML, a document the daemon refuses.
    const piped = await run("sh", [
      "-c",
      `env PLEXUS_SOCKET=${lab.home.socket} ${process.execPath} ${BIN} apply -f - < ${doc}`,
    ]);
    assert.match(piped.stdout, /no changes/);
    const broken = join(scratch, "broken.yaml");
    writeFileSync(broken, "instances: [oops\n");
    await fails(2, /broken\.yaml is not valid YAML or JSON/, "apply", "-f", broken);
    const wrong = join(scratch, "wrong.yaml");
    writeFileSync(wrong, "instances:\n  z1: { type: wire, ports: { a: { peer: nosuch0 } } }\n");
    await fails(
      1,
      /^plexus: topology document: z1:a: interface 'nosuch0' does not exist/,
      "apply",
      "-f",
      wrong,
    );
    await fails(2, /required option '-f, --file <file>' not specified/, "apply");
    await ok("delete", "r1", "r2");
  });

  test("usage errors exit 2, failures exit 1, each in one line", async () => {
    await Promise.all([
      fails(2, /unknown option '--bogus'/, "show", "--bogus"),
      fails(2, /missing required argument 'name'/, "create", "wire"),
      fails(2, /'level' is not key=value/, "create", "apiwire", "x", "level"),
      fails(2, /--mode wants tc, xdp, xdp-generic, got 'fast'/, "create", "wire", "x", "--mode", "fast"),
      fails(2, /-o wants table, json, yaml, got 'xml'/, "show", "-o", "xml"),
      fails(
        2,
        /connect.*the first argument wants INSTANCE:PORT, got 'w1'|the first argument wants INSTANCE:PORT/,
        "connect",
        "w1",
        "eth0",
      ),
      fails(1, /^plexus: no instance 'ghost' \(instances: none\)$/m, "show", "ghost"),
      fails(1, /^plexus: body\/name: must match pattern/, "create", "wire", "bad!name"),
      fails(1, /^plexus: x config: \/level: must be <= 9/, "create", "apiwire", "x", "level=99"),
      fails(1, /^plexus: interface 'nosuch0' does not exist/, "create", "wire", "x", "--port", "a=nosuch0"),
    ]);
    const down = await run(
      "env",
      [`PLEXUS_SOCKET=${join(scratch, "none.sock")}`, process.execPath, BIN, "show"],
      {
        allowFailure: true,
      },
    );
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /^plexus: cannot reach the daemon at .*none\.sock: ENOENT; is plexusd running\?/,
    );
    assert.match(await ok("show"), /no instances/, "no failed command left anything behind");
  });

  test("help with examples on every command; shell completion; status", async () => {
    const commands = [
      ["daemon"],
      ["nf"],
      ["create"],
      ["delete"],
      ["config"],
      ["port"],
      ["connect"],
      ["disconnect"],
      ["attach"],
      ["show"],
      ["topology"],
      ["upgrade"],
      ["events"],
      ["table"],
      ["apply"],
      ["export"],
      ["completion"],
    ];
    const helps = await Promise.all(commands.map((c) => ok(...c, "--help")));
    helps.forEach((h, i) =>
      assert.match(h, /Examples:\n {2}(plexus|source)/, `${commands[i][0]} --help has examples`),
    );
    const top = await ok("--help");
    assert.match(top, /plexus INSTANCE TABLE show\|add\|del/);
    assert.match(top, /PLEXUS_SOCKET/);
    await ok("create", "wire", "cw1");
    const [bash, zsh, names, status] = await Promise.all([
      ok("completion", "bash"),
      ok("completion", "zsh"),
      ok("__complete", "instances"),
      ok("status"),
    ]);
    assert.match(bash, /complete -o default -F _plexus plexus/);
    assert.match(bash, /nf\) subs="list show install remove"/);
    assert.match(zsh, /bashcompinit/);
    assert.equal(names.trim(), "cw1");
    assert.match(status, new RegExp(`plexusd 0\\.1\\.0 \\(pid ${lab.daemon.pid}\\)`));
    // The completion script runs in bash and offers commands and instance names.
    const script = join(scratch, "completion.bash");
    writeFileSync(script, bash);
    const words = await run("bash", [
      "-c",
      `plexus() { PLEXUS_SOCKET=${lab.home.socket} ${process.execPath} ${BIN} "$@"; }; source ${script}; COMP_WORDS=(plexus c); COMP_CWORD=1; _plexus; echo "\${COMPREPLY[@]}"`,
    ]);
    assert.match(words.stdout, /\bcreate\b/);
    assert.match(words.stdout, /\bcw1\b/);
    await fails(2, /completion for bash or zsh, not 'fish'/, "completion", "fish");
    await ok("delete", "cw1");
  });
});
