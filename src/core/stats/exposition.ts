// The Prometheus text exposition format, version 0.0.4: families with HELP and TYPE, samples with
// escaped label values. https://prometheus.io/docs/instrumenting/exposition_formats/
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge";
export type Labels = Record<string, string>;

interface Family {
  help: string;
  type: MetricType;
  samples: { labels: Labels; value: number }[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Collects families in the order they are declared; text() writes them. */
export class Exposition {
  private readonly families = new Map<string, Family>();

  /** Declares a family (idempotent) and returns a function adding samples to it. */
  family(name: string, type: MetricType, help: string): (labels: Labels, value: number) => void {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
    let f = this.families.get(name);
    if (!f) {
      f = { help, type, samples: [] };
      this.families.set(name, f);
    }
    const fam = f;
    return (labels, value) => void fam.samples.push({ labels, value });
  }

  text(): string {
    const lines: string[] = [];
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${escapeHelp(f.help)}`, `# TYPE ${name} ${f.type}`);
      for (const s of f.samples) {
        const labels = Object.entries(s.labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(",");
        lines.push(`${name}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`);
      }
    }
    return lines.join("\n") + "\n";
  }
}
