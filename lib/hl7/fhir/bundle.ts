import { convertError } from "./datatypes";
import type { Bundle, BundleEntry, Identifier, Resource } from "./fhir-types";
import { deterministicUuid, tokenParam } from "./ids";

/**
 * The transaction a message becomes: referenced resources first (created if none has their
 * identifier), then the ones the message owns (conditional update on their business identifier).
 */
export class BundleBuilder {
  private readonly refs: BundleEntry[] = [];
  private readonly main: BundleEntry[] = [];
  private readonly urls = new Set<string>();

  /** A referenced resource created only if none has its identifier (POST + ifNoneExist). */
  ensure(resource: Resource, identifier: Identifier): string {
    const key = `${identifier.system}|${identifier.value}`;
    const fullUrl = deterministicUuid(resource.resourceType, key);
    if (!this.urls.has(fullUrl)) {
      this.urls.add(fullUrl);
      this.refs.push({
        fullUrl,
        resource,
        request: {
          method: "POST",
          url: resource.resourceType,
          ifNoneExist: `identifier=${tokenParam(identifier.system!, identifier.value!)}`,
        },
      });
    }
    return fullUrl;
  }

  /**
   * A resource written by conditional update on its business identifier (PUT Type?identifier=).
   * `or`: identifiers the resource may already be found by instead (a changed number's new value),
   * searched together with it (`identifier=a,b`); the fullUrl stays that of `identifier`.
   */
  put(resource: Resource, identifier: Identifier, where: string, or: Identifier[] = []): string {
    const key = `${identifier.system}|${identifier.value}`;
    const fullUrl = deterministicUuid(resource.resourceType, key);
    if (this.urls.has(fullUrl)) {
      throw convertError(where, `two ${resource.resourceType} entries share one identifier`);
    }
    this.urls.add(fullUrl);
    this.main.push({
      fullUrl,
      resource,
      request: {
        method: "PUT",
        url: `${resource.resourceType}?identifier=${tokenParam(identifier.system!, identifier.value!)}${or.map((i) => `,${tokenParam(i.system!, i.value!)}`).join("")}`,
      },
    });
    return fullUrl;
  }

  bundle(): Bundle {
    return { resourceType: "Bundle", type: "transaction", entry: [...this.refs, ...this.main] };
  }
}
