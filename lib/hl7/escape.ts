/**
 * HL7 v2 escape sequences (v2.5 §2.7), both ways, for any delimiters.
 *
 * | sequence     | value                                   |
 * |--------------|-----------------------------------------|
 * | `\F\`        | the field separator                     |
 * | `\S\`        | the component separator                 |
 * | `\T\`        | the subcomponent separator              |
 * | `\R\`        | the repetition separator                |
 * | `\E\`        | the escape character                    |
 * | `\P\`        | the truncation character (v2.7+)        |
 * | `\Xhhhh..\`  | bytes in hex, read as UTF-8 (else Latin-1) |
 * | `\.br\`      | a line break (`"\n"`)                   |
 *
 * Text formatting and character set commands (`\H\ \N\ \.sp\ \.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\
 * \Zxx\ \Cxxyy\ \Mxxyyzz\`) have no plain-text value: unescaping keeps them as written and
 * escaping writes such a complete command back unchanged, so formatted text (FT, TX) passes
 * through a parse and a serialisation intact. An escape character that starts no well-formed
 * sequence is kept as a literal character (real senders put bare backslashes in paths).
 *
 * The escape direction writes a line break (CR LF, CR or LF) as `\.br\`, other control
 * characters (including the MLLP framing bytes 0x0B and 0x1C) as `\Xhh\`.
 */

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+ truncation character (fifth MSH-2 character); absent before. */
  truncation?: string;
}

export const DEFAULT_DELIMITERS: Readonly<Delimiters> = Object.freeze({
  field: "|",
  component: "^",
  repetition: "~",
  escape: "\\",
  subcomponent: "&",
});

/** MSH-2 for these delimiters, e.g. `^~\&`. */
export function encodingCharacters(d: Delimiters): string {
  return d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? "");
}

const FORMATTING =
  /^(?:H|N|\.br|\.sp[+-]?\d*|\.in[+-]?\d*|\.ti[+-]?\d*|\.sk[+-]?\d*|\.ce|\.fi|\.nf|Z[^\\]*|C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?)$/;

const isDefault = (d: Delimiters): boolean =>
  d.field === "|" &&
  d.component === "^" &&
  d.repetition === "~" &&
  d.escape === "\\" &&
  d.subcomponent === "&" &&
  d.truncation === undefined;

// Control characters are exactly what must be escaped here.
// eslint-disable-next-line no-control-regex
const DEFAULT_SPECIAL = /[|^~\\&\x00-\x1F\x7F]/;

function hexByte(code: number): string {
  return code.toString(16).toUpperCase().padStart(2, "0");
}

/** Escapes one value (a field, component or subcomponent) for the delimiters `d`. */
export function escapeHl7(value: string, d: Delimiters = DEFAULT_DELIMITERS): string {
  if (isDefault(d) && !DEFAULT_SPECIAL.test(value)) return value;
  const e = d.escape;
  let out = "";
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const ch = value[i];
    if (ch === e) {
      const end = value.indexOf(e, i + 1);
      if (end > i + 1 && FORMATTING.test(value.slice(i + 1, end)) && value.slice(i + 1, end) !== ".br") {
        out += value.slice(i, end + 1);
        i = end;
      } else {
        out += `${e}E${e}`;
      }
    } else if (ch === d.field) out += `${e}F${e}`;
    else if (ch === d.component) out += `${e}S${e}`;
    else if (ch === d.subcomponent) out += `${e}T${e}`;
    else if (ch === d.repetition) out += `${e}R${e}`;
    else if (d.truncation !== undefined && ch === d.truncation) out += `${e}P${e}`;
    else if (ch === "\r" || ch === "\n") {
      if (ch === "\r" && value[i + 1] === "\n") i++;
      out += `${e}.br${e}`;
    } else {
      const code = ch.charCodeAt(0);
      if (code < 0x20 || code === 0x7f) out += `${e}X${hexByte(code)}${e}`;
      else out += ch;
    }
  }
  return out;
}

function decodeHex(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes = Buffer.from(hex, "hex");
  const utf8 = bytes.toString("utf8");
  return utf8.includes("\uFFFD") ? bytes.toString("latin1") : utf8;
}

/** The value of one escaped value (a field, component or subcomponent). */
export function unescapeHl7(text: string, d: Delimiters = DEFAULT_DELIMITERS): string {
  const e = d.escape;
  let start = text.indexOf(e);
  if (start < 0 || e === "") return text;
  let out = text.slice(0, start);
  while (start >= 0) {
    const end = text.indexOf(e, start + 1);
    if (end < 0) {
      out += text.slice(start);
      return out;
    }
    const body = text.slice(start + 1, end);
    let value: string | undefined;
    switch (body) {
      case "F":
        value = d.field;
        break;
      case "S":
        value = d.component;
        break;
      case "T":
        value = d.subcomponent;
        break;
      case "R":
        value = d.repetition;
        break;
      case "E":
        value = e;
        break;
      case "P":
        value = d.truncation;
        break;
      case ".br":
        value = "\n";
        break;
      default:
        if (body[0] === "X" || body[0] === "x") value = decodeHex(body.slice(1));
        else if (FORMATTING.test(body)) value = text.slice(start, end + 1);
    }
    if (value === undefined) {
      // Not a sequence: the escape character is a literal; resume scanning right after it.
      out += e;
      const next = text.indexOf(e, start + 1);
      out += text.slice(start + 1, next < 0 ? text.length : next);
      start = next;
      continue;
    }
    out += value;
    const next = text.indexOf(e, end + 1);
    out += text.slice(end + 1, next < 0 ? text.length : next);
    start = next;
  }
  return out;
}
