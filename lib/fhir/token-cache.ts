import { CODES } from "../error-codes";
import { FhirError } from "./errors";

export interface AccessToken {
  accessToken: string;
  /** Epoch ms after which the token is not used any more; undefined: until a 401 says otherwise. */
  renewAt?: number;
  expiresAt?: number;
}

/** Reads an OAuth2 token response; throws FHIR_AUTH (without echoing the body) when it is unusable. */
export function parseTokenResponse(body: unknown, skewSeconds: number, now: number): AccessToken {
  const b = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : undefined;
  const token = b?.access_token;
  if (typeof token !== "string" || token === "") {
    throw new FhirError(CODES.FHIR_AUTH, "the token endpoint's answer has no access_token");
  }
  const type = b?.token_type;
  if (typeof type === "string" && type !== "" && type.toLowerCase() !== "bearer") {
    throw new FhirError(
      CODES.FHIR_AUTH,
      `the token endpoint issued a ${type.slice(0, 20)} token, not a bearer token`,
    );
  }
  const raw = b?.expires_in;
  const expiresIn = typeof raw === "number" ? raw : typeof raw === "string" ? Number(raw) : NaN;
  if (!Number.isFinite(expiresIn) || expiresIn <= 0) return { accessToken: token };
  // A short-lived token (expires_in below twice the skew) is renewed halfway through its life.
  const usable = Math.max(expiresIn - skewSeconds, expiresIn / 2);
  return { accessToken: token, renewAt: now + usable * 1000, expiresAt: now + expiresIn * 1000 };
}

/**
 * One cached access token. Callers that find it missing or due for renewal share a single
 * in-flight fetch; a failed fetch is not cached, so the next caller tries again.
 */
export class TokenCache {
  private current: AccessToken | undefined;
  private inFlight: Promise<AccessToken> | undefined;
  private fetchCount = 0;

  constructor(
    private readonly fetchToken: () => Promise<AccessToken>,
    private readonly now: () => number = Date.now,
  ) {}

  get fetches(): number {
    return this.fetchCount;
  }

  get(): Promise<AccessToken> {
    const cached = this.current;
    if (cached && (cached.renewAt === undefined || this.now() < cached.renewAt))
      return Promise.resolve(cached);
    if (!this.inFlight) {
      this.fetchCount++;
      const flight = this.fetchToken().then(
        (token) => {
          if (this.inFlight === flight) {
            this.current = token;
            this.inFlight = undefined;
          }
          return token;
        },
        (err: unknown) => {
          if (this.inFlight === flight) this.inFlight = undefined;
          throw err;
        },
      );
      this.inFlight = flight;
    }
    return this.inFlight;
  }

  /** Drops `token` if it is still the cached one (a newer token fetched meanwhile stays). */
  invalidate(token: AccessToken): void {
    if (this.current === token) this.current = undefined;
  }

  clear(): void {
    this.current = undefined;
    this.inFlight = undefined;
  }
}
