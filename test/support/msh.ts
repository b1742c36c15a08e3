/**
 * The message with some MSH fields replaced, numbered as HL7 counts them (MSH-10 is the control
 * ID, MSH-15/16 the acknowledgment types; MSH-1 is the separator, so MSH-n is the n-th piece
 * after the segment ID). Missing fields are added empty; segment ends are kept as they are.
 */
export function withMsh(text: string, fields: Readonly<Record<number, string>>): string {
  const end = text.search(/\r|\n/);
  const first = end < 0 ? text : text.slice(0, end);
  const msh = first.split("|");
  for (const [n, value] of Object.entries(fields)) {
    const i = Number(n) - 1;
    while (msh.length <= i) msh.push("");
    msh[i] = value;
  }
  return msh.join("|") + (end < 0 ? "" : text.slice(end));
}
