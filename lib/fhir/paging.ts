/** The `next` link of a Bundle, if any. */
export function nextLink(bundle: unknown): string | undefined {
  const links = (bundle as { link?: unknown } | null)?.link;
  if (!Array.isArray(links)) return undefined;
  for (const l of links) {
    const link = l as { relation?: unknown; url?: unknown } | null;
    if (link?.relation === "next" && typeof link.url === "string" && link.url !== "") return link.url;
  }
  return undefined;
}

export interface SearchsetBundle {
  resourceType: "Bundle";
  type: "searchset";
  total: number;
  link: { relation: string; url: string }[];
  entry: unknown[];
}

/** Collects the entries of every page of a search once each, in the order the server gave them. */
export class PageMerger {
  private readonly entries: unknown[] = [];
  private readonly seenUrls = new Set<string>();
  private readonly seenIds = new Set<string>();
  pages = 0;

  add(bundle: unknown): void {
    this.pages++;
    const entries = (bundle as { entry?: unknown } | null)?.entry;
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      const e = entry as { fullUrl?: unknown; resource?: { resourceType?: unknown; id?: unknown } } | null;
      // Both identities are checked: a server may give a fullUrl on one page and not on another.
      const url = typeof e?.fullUrl === "string" && e.fullUrl !== "" ? e.fullUrl : undefined;
      const type = e?.resource?.resourceType;
      const id = e?.resource?.id;
      const rid = typeof type === "string" && typeof id === "string" ? `${type}/${id}` : undefined;
      if ((url && this.seenUrls.has(url)) || (rid && this.seenIds.has(rid))) continue;
      if (url) this.seenUrls.add(url);
      if (rid) this.seenIds.add(rid);
      this.entries.push(entry);
    }
  }

  get count(): number {
    return this.entries.length;
  }

  bundle(selfUrl: string): SearchsetBundle {
    return {
      resourceType: "Bundle",
      type: "searchset",
      total: this.entries.length,
      link: [{ relation: "self", url: selfUrl }],
      entry: this.entries,
    };
  }
}
