import type { Dispatcher } from "undici";

/**
 * A response body as text, read no further than `max` bytes: undefined (and the body destroyed)
 * when its declared length or what arrives is larger, so a server cannot make the caller hold more.
 */
export async function readCapped(res: Dispatcher.ResponseData, max: number): Promise<string | undefined> {
  if (max === Number.POSITIVE_INFINITY) return res.body.text();
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > max) {
      res.body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}
