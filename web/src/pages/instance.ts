// One instance: what it is and how it is configured, its ports with live counters, charts of its
// rates over time, its tables (paged, searchable), its recent events and a capture download.
import { ApiError, getJson } from "../api.js";
import { downloadCapture } from "../capture.js";
import type { CounterSnapshot, InstanceCounters } from "../live/counters.js";
import { followEvents } from "../live/events.js";
import { onCounters, rateHistory, type RatePoint } from "../live/poller.js";
import { lineChart } from "../ui/chart.js";
import { h, replace, s } from "../ui/dom.js";
import { bps, count, pps } from "../ui/format.js";
import { pagedTable, type PagedTable } from "../ui/paged-table.js";
import type { InstanceJson, PlexusEvent, TableInfo, TableRow } from "../types.js";
import { eventItem } from "./topology.js";

const EVENTS_SHOWN = 50;
const TABLE_REFRESH_MS = 5000;
const AUTO_REFRESH_MAX_ROWS = 5000;
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#0891b2", "#9333ea", "#db2777"];

function facts(i: InstanceJson): HTMLElement {
  const item = (k: string, v: string) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
  return h(
    "dl",
    { class: "facts" },
    item("type", `${i.type} ${i.version}`),
    item("kind", i.kind),
    item("hook", i.mode),
    item("slot", String(i.slot)),
    i.attachment
      ? item(
          "attached",
          `${i.attachment.direction} on ${i.attachment.target} (position ${i.attachment.position})`,
        )
      : null,
  );
}

function portsTable(i: InstanceJson): {
  el: HTMLElement;
  update(c: InstanceCounters, snap: CounterSnapshot): void;
} {
  const cells = new Map<string, Record<string, HTMLTableCellElement>>();
  const cols = ["rx-packets", "tx-packets", "rx-rate", "tx-rate", "drops"];
  const rows = i.ports.map((p) => {
    const c: Record<string, HTMLTableCellElement> = {};
    for (const k of cols) c[k] = h("td", { class: "num", "data-counter": k }, "–");
    cells.set(p.name, c);
    return h(
      "tr",
      { "data-port": p.name },
      h("td", {}, p.name),
      h("td", {}, p.peer ?? "—"),
      ...cols.map((k) => c[k]),
    );
  });
  const el = h(
    "table",
    { class: "grid", id: "ports" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["port", "peer", "rx packets", "tx packets", "rx rate", "tx rate", "drops"].map((t) =>
          h("th", {}, t),
        ),
      ),
    ),
    h("tbody", {}, ...rows),
  );
  return {
    el,
    update(c, snap) {
      for (const p of c.ports) {
        const row = cells.get(p.name);
        const r = snap.rates.get(`${c.name}:${p.name}`);
        if (!row) continue;
        row["rx-packets"].textContent = count(p.rx.packets);
        row["tx-packets"].textContent = count(p.tx.packets);
        row["rx-rate"].textContent = r ? `${pps(r.rxPps)} · ${bps(r.rxBps)}` : "–";
        row["tx-rate"].textContent = r ? `${pps(r.txPps)} · ${bps(r.txBps)}` : "–";
        const drops = p.rx.drops + p.tx.drops;
        row.drops.textContent = count(drops);
        row.drops.classList.toggle("drops-cell", true);
        row.drops.classList.toggle("nonzero", drops > 0);
      }
    },
  };
}

function countersPanel(c: InstanceCounters): HTMLElement {
  const drops = Object.entries(c.drops).filter(([, n]) => n > 0);
  return h(
    "div",
    { id: "totals" },
    h(
      "dl",
      { class: "facts" },
      h("div", {}, h("dt", {}, "rx"), h("dd", { "data-counter": "rx" }, `${count(c.rx.packets)} packets`)),
      h("div", {}, h("dt", {}, "tx"), h("dd", { "data-counter": "tx" }, `${count(c.tx.packets)} packets`)),
      ...drops.map(([reason, n]) =>
        h(
          "div",
          { class: "error" },
          h("dt", {}, `dropped (${reason})`),
          h("dd", { "data-drop": reason }, count(n)),
        ),
      ),
      drops.length ? null : h("div", {}, h("dt", {}, "dropped"), h("dd", {}, "0")),
    ),
    c.tables.length
      ? h(
          "p",
          { class: "muted" },
          "table use: ",
          c.tables.map((t) => `${t.table} ${count(t.entries)}/${count(t.capacity)}`).join(" · "),
        )
      : null,
  );
}

function programsTable(name: string, snap: CounterSnapshot): HTMLElement | null {
  // Programs reached by tail call count nothing themselves (their entry stub counts them): shown
  // only once the kernel has counted runs of them.
  const list = snap.programs.filter((p) => p.instance === name && p.runs > 0);
  if (!list.length) return null;
  const table = h(
    "table",
    { class: "grid", id: "programs" },
    h(
      "thead",
      {},
      h("tr", {}, ...["program", "hook", "runs", "runs/s", "ns per run"].map((t) => h("th", {}, t))),
    ),
    h(
      "tbody",
      {},
      ...list.map((p) =>
        h(
          "tr",
          { "data-program": p.program },
          h("td", {}, p.program),
          h("td", {}, p.hook),
          h("td", { class: "num" }, count(p.runs)),
          h("td", { class: "num" }, count(Math.round(p.runsPerSecond))),
          h("td", { class: "num" }, p.runs ? count(Math.round(p.runTimeNs / p.runs)) : "–"),
        ),
      ),
    ),
  );
  return h("div", {}, h("h3", {}, "programs (the kernel's statistics, on while someone looks)"), table);
}

function chartsOf(i: InstanceJson): HTMLElement {
  const series = (
    key: string,
    dir: "rx" | "tx",
    name: string,
    color: string,
    f: (p: RatePoint) => number,
  ) => ({
    name: `${key}:${dir}`,
    color,
    points: rateHistory(key).map((p) => ({ t: p.t, v: f(p) })),
    label: name,
  });
  const keys = i.kind === "transparent" ? [i.name] : i.ports.map((p) => `${i.name}:${p.name}`);
  const label = (k: string) => (k === i.name ? "through" : k.slice(i.name.length + 1));
  const pkt = keys.flatMap((k, n) => [
    series(k, "rx", `${label(k)} rx`, COLORS[(2 * n) % COLORS.length], (p) => p.rxPps),
    series(k, "tx", `${label(k)} tx`, COLORS[(2 * n + 1) % COLORS.length], (p) => p.txPps),
  ]);
  const drops = [
    {
      name: "drops",
      color: "#dc2626",
      label: "dropped",
      points: rateHistory(`drops:${i.name}`).map((p) => ({ t: p.t, v: p.dropsPs })),
    },
  ];
  const legend = (list: { color: string; label: string }[]) =>
    h(
      "div",
      { class: "legend" },
      ...list.map((x) =>
        h(
          "span",
          {},
          s("svg", { width: 10, height: 10 }, s("rect", { width: 10, height: 10, rx: 2, fill: x.color })),
          x.label,
        ),
      ),
    );
  return h(
    "div",
    { class: "charts" },
    h(
      "div",
      { "data-chart": "packets" },
      h("h3", {}, "packets per second"),
      lineChart(pkt, pps),
      legend(pkt),
    ),
    h(
      "div",
      { "data-chart": "drops" },
      h("h3", {}, "drops per second"),
      lineChart(drops, pps),
      legend(drops),
    ),
  );
}

function tablesPanel(name: string, signal: AbortSignal): HTMLElement {
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const body = h("div", {}, h("p", { class: "muted" }, "loading…"));
  const panel = h("div", { id: "tables" }, tabs, body);
  let current: { table: string; view: PagedTable; columns: string[] } | undefined;
  let lastRows = 0;
  const show = async (t: TableInfo) => {
    for (const b of tabs.querySelectorAll("button"))
      b.setAttribute("aria-selected", String(b.dataset.tab === t.name));
    const columns = [...t.key, ...t.value].map((f) => f.name);
    const view = pagedTable(columns, 20, t.name);
    current = { table: t.name, view, columns };
    replace(body, t.description ? h("p", { class: "muted" }, t.description) : null, view.el);
    await reload();
  };
  const reload = async () => {
    if (!current) return;
    const { table, view } = current;
    const rows = await getJson<TableRow[]>(
      `/v1/instances/${encodeURIComponent(name)}/tables/${encodeURIComponent(table)}`,
      signal,
    );
    lastRows = rows.length;
    if (current?.table === table) view.setRows(rows);
  };
  void (async () => {
    const tables = await getJson<TableInfo[]>(`/v1/instances/${encodeURIComponent(name)}/tables`, signal);
    if (!tables.length) {
      replace(body, h("p", { class: "muted" }, "This instance has no tables."));
      return;
    }
    tabs.append(
      ...tables.map((t) => {
        const b = h("button", { type: "button", role: "tab", "data-tab": t.name }, t.name);
        b.addEventListener("click", () => void show(t));
        return b;
      }),
    );
    await show(tables[0]);
  })().catch((e: unknown) => replace(body, h("p", { class: "error" }, (e as Error).message)));
  // Learned entries come and go: read the shown table again every few seconds.
  // (A big table is read again only on request: the API sends whole tables.)
  const timer = setInterval(() => {
    if (lastRows <= AUTO_REFRESH_MAX_ROWS) void reload().catch(() => undefined);
  }, TABLE_REFRESH_MS);
  signal.addEventListener("abort", () => clearInterval(timer));
  const refresh = h("button", { type: "button", class: "secondary", id: "tables-refresh" }, "refresh");
  refresh.addEventListener("click", () => void reload());
  panel.prepend(h("div", { class: "toolbar" }, refresh));
  return panel;
}

function capturePanel(i: InstanceJson, signal: AbortSignal): HTMLElement {
  const targets =
    i.kind === "transparent"
      ? i.attachment
        ? [i.attachment.target]
        : []
      : i.ports.map((p) => `${i.name}:${p.name}`);
  if (!targets.length) return h("p", { class: "muted" }, "Not attached: nothing to capture here.");
  const target = h("select", { id: "capture-target" }, ...targets.map((t) => h("option", { value: t }, t)));
  const seconds = h("input", {
    id: "capture-seconds",
    type: "number",
    min: 1,
    max: 3600,
    value: 10,
    class: "narrow",
  });
  const packets = h("input", {
    id: "capture-count",
    type: "number",
    min: 1,
    value: 1000,
    class: "narrow",
  });
  const filter = h("input", { id: "capture-filter", type: "text", placeholder: "tcpdump filter (optional)" });
  const go = h("button", { type: "submit", id: "capture-start" }, "capture");
  const status = h("span", { class: "muted", id: "capture-status" });
  const form = h(
    "form",
    { class: "toolbar", id: "capture" },
    target,
    "for",
    seconds,
    "s or",
    packets,
    "packets",
    filter,
    go,
    status,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go.disabled = true;
    status.textContent = `capturing on ${target.value}…`;
    status.className = "muted";
    void downloadCapture(
      {
        target: target.value,
        durationMs: Math.round(Number(seconds.value) * 1000),
        count: Math.round(Number(packets.value)),
        ...(filter.value.trim() ? { filter: filter.value.trim() } : {}),
      },
      signal,
    )
      .then((size) => (status.textContent = `saved ${count(size)} bytes of pcap`))
      .catch((e: unknown) => {
        status.textContent = e instanceof ApiError ? e.message : `failed: ${(e as Error).message}`;
        status.className = "error";
      })
      .finally(() => (go.disabled = false));
  });
  return form;
}

export function instancePage(root: HTMLElement, name: string, signal: AbortSignal): void {
  replace(root, h("p", { class: "muted" }, "loading…"));
  void (async () => {
    let i: InstanceJson;
    try {
      i = await getJson<InstanceJson>(`/v1/instances/${encodeURIComponent(name)}`, signal);
    } catch (e) {
      replace(
        root,
        h("p", { class: "panel error" }, (e as Error).message),
        h("a", { href: "#/" }, "back to the topology"),
      );
      return;
    }
    const ports = portsTable(i);
    const totals = h("div", {});
    const charts = h("div", { id: "charts" });
    const events = h("ol", { class: "events", id: "instance-events" });
    replace(
      root,
      h(
        "div",
        { class: "instance-page", "data-instance-page": i.name },
        h(
          "section",
          { class: "panel wide" },
          h("h2", {}, h("a", { href: "#/" }, "topology"), " / ", i.name),
          facts(i),
          i.ports.length ? h("h3", {}, "ports") : null,
          i.ports.length ? ports.el : null,
          h("h3", {}, "counters"),
          totals,
          charts,
        ),
        h(
          "section",
          { class: "panel" },
          h("h2", {}, "configuration"),
          h("pre", { id: "config" }, JSON.stringify(i.config, null, 2)),
        ),
        h("section", { class: "panel" }, h("h2", {}, "capture"), capturePanel(i, signal)),
        h("section", { class: "panel wide" }, h("h2", {}, "tables"), tablesPanel(i.name, signal)),
        h("section", { class: "panel wide" }, h("h2", {}, "events"), events),
      ),
    );
    const unsubscribe = onCounters((snap) => {
      const c = snap.instances.find((x) => x.name === i.name);
      if (!c) return;
      ports.update(c, snap);
      replace(totals, countersPanel(c), programsTable(c.name, snap));
      replace(charts, chartsOf(i));
    });
    signal.addEventListener("abort", unsubscribe);

    const q = `instance=${encodeURIComponent(i.name)}`;
    const recent = await getJson<PlexusEvent[]>(`/v1/events?${q}&limit=${EVENTS_SHOWN}`, signal).catch(
      () => [],
    );
    events.append(...recent.reverse().map(eventItem));
    await followEvents({
      instance: i.name,
      since: recent[0]?.seq ?? 0,
      signal,
      onEvent: (e) => {
        events.prepend(eventItem(e));
        while (events.children.length > EVENTS_SHOWN) events.lastElementChild?.remove();
      },
    });
  })();
}
