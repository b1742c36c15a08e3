/**
 * A strict parser of the Prometheus text exposition format 0.0.4, for tests: it throws on
 * anything the format does not allow (bad names, bad escapes, unparseable values, TYPE after
 * samples, a family split in two, a series twice, summary samples out of place).
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help: string | null;
  samples: Sample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const FLOAT = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Inf|NaN)$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: number): number {
  if (!FLOAT.test(text)) throw new Error(`line ${line}: bad value ${JSON.stringify(text)}`);
  if (/Inf$/.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/NaN$/.test(text)) return NaN;
  return Number(text);
}

function unescape(text: string, allowQuote: boolean, line: number): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = text[++i];
    if (n === "\\") out += "\\";
    else if (n === "n") out += "\n";
    else if (n === '"' && allowQuote) out += '"';
    else throw new Error(`line ${line}: bad escape \\${n ?? ""}`);
  }
  return out;
}

/** The family a sample name belongs to (summary/histogram suffixes stripped when that family is declared so). */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ["_sum", "_count", "_bucket"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (f.type === "summary" || f.type === "histogram")) return base;
    }
  }
  return name;
}

export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | null = null;
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return;
      const [, kind, name, rest = ""] = m;
      if (!METRIC.test(name)) throw new Error(`line ${line}: bad metric name ${name}`);
      if (closed.has(name) && current !== name) throw new Error(`line ${line}: family ${name} split in two`);
      let f = families.get(name);
      if (!f) {
        f = { name, type: "untyped", help: null, samples: [] };
        families.set(name, f);
      }
      if (current !== null && current !== name) closed.add(current);
      current = name;
      if (kind === "HELP") {
        if (f.help !== null) throw new Error(`line ${line}: second HELP for ${name}`);
        f.help = unescape(rest, false, line);
      } else {
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE for ${name} after its samples`);
        if ((f as Family & { typed?: boolean }).typed)
          throw new Error(`line ${line}: second TYPE for ${name}`);
        if (!TYPES.has(rest.trim())) throw new Error(`line ${line}: unknown type ${rest}`);
        f.type = rest.trim();
        (f as Family & { typed?: boolean }).typed = true;
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/.exec(raw);
    if (!m) throw new Error(`line ${line}: not a sample: ${JSON.stringify(raw)}`);
    const [, name, , labelText, valueText] = m;
    const labels: Record<string, string> = {};
    if (labelText !== undefined && labelText !== "") {
      const re = /\s*([^=\s]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
      let pos = 0;
      while (pos < labelText.length) {
        re.lastIndex = pos;
        const lm = re.exec(labelText);
        if (!lm) throw new Error(`line ${line}: bad labels ${JSON.stringify(labelText)}`);
        const [, lname, lvalue, sep] = lm;
        if (!LABEL.test(lname) || lname.startsWith("__"))
          throw new Error(`line ${line}: bad label name ${lname}`);
        if (lname in labels) throw new Error(`line ${line}: label ${lname} twice`);
        labels[lname] = unescape(lvalue, true, line);
        pos = re.lastIndex;
        if (sep === "" && pos < labelText.length) throw new Error(`line ${line}: junk after labels`);
      }
    }
    const value = parseValue(valueText, line);
    const fname = familyOf(name, families);
    if (closed.has(fname)) throw new Error(`line ${line}: family ${fname} split in two`);
    if (current !== null && current !== fname) closed.add(current);
    current = fname;
    let f = families.get(fname);
    if (!f) {
      f = { name: fname, type: "untyped", help: null, samples: [] };
      families.set(fname, f);
    }
    if (f.type === "summary") {
      if (name === fname && !("quantile" in labels))
        throw new Error(`line ${line}: summary sample without quantile`);
      if ("quantile" in labels && !FLOAT.test(labels.quantile)) throw new Error(`line ${line}: bad quantile`);
    } else if (f.type !== "histogram" && name !== fname) {
      throw new Error(`line ${line}: ${name} outside its family`);
    }
    const key = `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(",")}}`;
    if (seen.has(key)) throw new Error(`line ${line}: series ${key} twice`);
    seen.add(key);
    f.samples.push({ name, labels, value });
  });
  return families;
}

/** The one sample of `name` whose labels include `labels`. */
export function sampleOf(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value;
    }
  }
  return undefined;
}
