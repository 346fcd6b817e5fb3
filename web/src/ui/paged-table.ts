// A table of rows with a search box (matches any field's text) and pages of a fixed size.
import { h, replace } from "./dom.js";

export interface PagedTable {
  el: HTMLElement;
  setRows(rows: readonly Record<string, unknown>[]): void;
}

const text = (v: unknown) => (typeof v === "object" && v !== null ? JSON.stringify(v) : String(v ?? ""));

/**
 * `known` are the columns to show first (and alone while there are no rows); fields the rows have
 * beyond them are added after, in the order they first appear.
 */
export function pagedTable(known: readonly string[], pageSize = 20, id?: string): PagedTable {
  let rows: readonly Record<string, unknown>[] = [];
  let columns: string[] = [...known];
  let page = 0;
  const search = h("input", {
    type: "search",
    placeholder: "search",
    class: "search",
    "aria-label": "search",
  });
  const info = h("span", { class: "muted page-info" });
  const prev = h("button", { class: "secondary prev", type: "button" }, "‹ prev");
  const next = h("button", { class: "secondary next", type: "button" }, "next ›");
  const tbody = h("tbody");
  const head = h("tr");
  const table = h("table", { class: "grid entries" }, h("thead", {}, head), tbody);
  const matching = () => {
    const q = search.value.trim().toLowerCase();
    return q ? rows.filter((r) => columns.some((c) => text(r[c]).toLowerCase().includes(q))) : rows;
  };
  const render = () => {
    replace(head, ...columns.map((c) => h("th", {}, c)));
    const list = matching();
    const pages = Math.max(1, Math.ceil(list.length / pageSize));
    page = Math.min(page, pages - 1);
    const shown = list.slice(page * pageSize, (page + 1) * pageSize);
    replace(
      tbody,
      ...shown.map((r) => h("tr", { "data-row": "" }, ...columns.map((c) => h("td", {}, text(r[c]))))),
      shown.length ? null : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, "no entries")),
    );
    info.textContent = `${list.length} of ${rows.length} entries · page ${page + 1} of ${pages}`;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  };
  search.addEventListener("input", () => {
    page = 0;
    render();
  });
  prev.addEventListener("click", () => {
    page--;
    render();
  });
  next.addEventListener("click", () => {
    page++;
    render();
  });
  const el = h(
    "div",
    { class: "paged", "data-table": id },
    h("div", { class: "toolbar" }, search, prev, next, info),
    table,
  );
  render();
  return {
    el,
    setRows(r) {
      rows = r;
      const seen = new Set(r.flatMap((row) => Object.keys(row)));
      columns = [
        ...known.filter((c) => seen.has(c) || !r.length),
        ...[...seen].filter((c) => !known.includes(c)),
      ];
      render();
    },
  };
}
