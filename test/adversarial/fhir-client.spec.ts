import { expect } from "chai";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FhirClient, FhirError, plainHttpWarnings, type FhirServerConfig } from "../../lib/fhir";
import { checkDiscoveredTokenUrl } from "../../lib/fhir/config";

/**
 * What a hostile or careless server cannot make the FHIR client do: send the client's secret to a
 * host the discovery document names, or read an answer of any size. Real HTTP on loopback.
 */

interface Peer {
  url: string;
  port: number;
  requests: Array<{ method: string; url: string; authorization?: string }>;
  close(): Promise<void>;
}

async function peer(
  handler: (req: IncomingMessage, res: ServerResponse, base: string) => void,
): Promise<Peer> {
  const requests: Peer["requests"] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization });
    req.resume();
    req.on("end", () => handler(req, res, url));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { "content-type": "application/fhir+json" });
  res.end(JSON.stringify(body));
};

async function failure(p: Promise<unknown>): Promise<FhirError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a FhirError").to.be.instanceOf(FhirError);
  return err as FhirError;
}

describe("lib/fhir hardening", function () {
  this.timeout(20_000);

  describe("a discovered token endpoint", () => {
    const base = (u: string): URL => new URL(u);

    it("is accepted over https on the FHIR server's host", () => {
      expect(
        checkDiscoveredTokenUrl(
          "https://ehr.example.org/auth/token",
          base("https://ehr.example.org/fhir/R4"),
        ),
      ).to.equal(undefined);
      expect(
        checkDiscoveredTokenUrl("https://EHR.example.org:8443/token", base("https://ehr.example.org/fhir")),
      ).to.equal(undefined);
    });

    it("is refused over http, or on another host, or when it is no URL", () => {
      expect(
        checkDiscoveredTokenUrl("http://ehr.example.org/token", base("https://ehr.example.org/fhir")),
      ).to.match(/not https/);
      expect(
        checkDiscoveredTokenUrl("https://evil.example.net/token", base("https://ehr.example.org/fhir")),
      ).to.match(/on evil\.example\.net, not on the FHIR server's host ehr\.example\.org/);
      expect(
        checkDiscoveredTokenUrl("https://ehr.example.org.evil.net/t", base("https://ehr.example.org/")),
      ).to.match(/not on the FHIR server's host/);
      expect(checkDiscoveredTokenUrl("not a url", base("https://ehr.example.org/"))).to.match(
        /not a valid URL/,
      );
      // http to another machine is refused even when the FHIR server itself is plain http there.
      expect(checkDiscoveredTokenUrl("http://ehr.lan/token", base("http://ehr.lan/fhir"))).to.match(
        /not https/,
      );
    });

    it("may be http when the FHIR server is http on this machine (a local sandbox), on the same host", () => {
      expect(
        checkDiscoveredTokenUrl("http://127.0.0.1:8103/oauth2/token", base("http://127.0.0.1:8103/fhir/R4")),
      ).to.equal(undefined);
      expect(
        checkDiscoveredTokenUrl("http://localhost:9/token", base("http://127.0.0.1:8103/fhir")),
      ).to.match(/not on the FHIR server's host/);
    });

    it("from a hostile discovery document never receives the client's secret; a configured one does", async () => {
      const thief = await peer((_req, res) =>
        json(res, 200, { access_token: "stolen", token_type: "bearer" }),
      );
      const ehr = await peer((req, res) => {
        if (req.url === "/fhir/.well-known/smart-configuration") {
          // The thief as "localhost": another host name than the base URL's 127.0.0.1.
          json(res, 200, { token_endpoint: `http://localhost:${thief.port}/token` });
        } else json(res, 200, { resourceType: "Bundle", type: "searchset", entry: [] });
      });
      const config = (tokenUrl?: string): FhirServerConfig => ({
        baseUrl: `${ehr.url}/fhir`,
        authType: "client-credentials",
        clientId: "cc",
        tokenUrl,
        retries: 0,
        credentials: { clientSecret: "s3cret" },
      });
      try {
        const discovered = new FhirClient(config());
        const err = await failure(discovered.interaction({ operation: "search", resourceType: "Patient" }));
        await discovered.close();
        expect(err.code).to.equal("FHIR_AUTH");
        expect(err.message).to.match(
          /token_endpoint is on localhost, not on the FHIR server's host 127\.0\.0\.1/,
        );
        expect(thief.requests).to.deep.equal([]);
        expect(ehr.requests.map((r) => r.url)).to.deep.equal(["/fhir/.well-known/smart-configuration"]);

        // Entered by the user, the same endpoint is trusted.
        const configured = new FhirClient(config(`http://localhost:${thief.port}/token`));
        const ok = await configured.interaction({ operation: "search", resourceType: "Patient" });
        await configured.close();
        expect(ok.meta.status).to.equal(200);
        expect(thief.requests).to.have.length(1);
        expect(ehr.requests.at(-1)?.authorization).to.equal("Bearer stolen");
      } finally {
        await thief.close();
        await ehr.close();
      }
    });
  });

  describe("credentials over plain http", () => {
    const cfg = (extra: Partial<FhirServerConfig>): FhirServerConfig => ({
      baseUrl: "https://ehr.example.org/fhir",
      authType: "none",
      ...extra,
    });

    it("warns when credentials would cross the network in clear, naming the host only", () => {
      expect(
        plainHttpWarnings(
          cfg({ baseUrl: "http://ehr.lan:8080/fhir", authType: "basic", credentials: { username: "u" } }),
        ),
      ).to.deep.equal(["basic credentials go to ehr.lan:8080 over plain http: use https"]);
      expect(
        plainHttpWarnings(
          cfg({
            authType: "client-credentials",
            tokenUrl: "http://auth.lan/token",
            clientId: "c",
            credentials: {},
          }),
        ),
      ).to.deep.equal([
        "the client's credentials go to the token URL on auth.lan over plain http: use https",
      ]);
    });

    it("stays quiet over https, without credentials, and on this machine", () => {
      expect(plainHttpWarnings(cfg({ authType: "bearer", credentials: { token: "t" } }))).to.deep.equal([]);
      expect(plainHttpWarnings(cfg({ baseUrl: "http://ehr.lan/fhir" }))).to.deep.equal([]);
      for (const host of ["127.0.0.1:8103", "localhost", "[::1]:8080", "127.1.2.3"]) {
        expect(
          plainHttpWarnings(
            cfg({
              baseUrl: `http://${host}/fhir`,
              authType: "client-credentials",
              tokenUrl: `http://${host}/token`,
              clientId: "c",
            }),
          ),
          host,
        ).to.deep.equal([]);
      }
    });
  });

  describe("answers larger than maxResponseBytes", () => {
    const MIB = 1024 * 1024;
    let server: Peer;
    let sent = 0;

    before(async () => {
      server = await peer((req, res) => {
        const size = Number(new URL(req.url ?? "/", "http://x").searchParams.get("size") ?? "0");
        const chunked = req.url?.includes("chunked") ?? false;
        const body = Buffer.from(
          JSON.stringify({ resourceType: "Bundle", type: "searchset", text: "x".repeat(size) }),
        );
        res.writeHead(200, {
          "content-type": "application/fhir+json",
          ...(chunked ? {} : { "content-length": String(body.length) }),
        });
        if (!chunked) {
          sent += body.length;
          res.end(body);
          return;
        }
        // 64 KiB at a time, as long as the client reads.
        let at = 0;
        const next = (): void => {
          while (at < body.length) {
            const piece = body.subarray(at, at + 65536);
            at += piece.length;
            sent += piece.length;
            if (!res.write(piece)) {
              res.once("drain", next);
              return;
            }
          }
          res.end();
        };
        res.on("close", () => res.removeAllListeners("drain"));
        next();
      });
    });

    after(() => server.close());

    const client = (): FhirClient =>
      new FhirClient({ baseUrl: `${server.url}/fhir`, authType: "none", retries: 0, maxResponseBytes: MIB });

    it("refuses a declared length above the limit without reading the body", async () => {
      const c = client();
      try {
        const err = await failure(
          c.interaction({ operation: "search", resourceType: "Patient", params: { size: String(8 * MIB) } }),
        );
        expect(err.code).to.equal("FHIR_RESPONSE_TOO_LARGE");
        expect(err.message).to.match(/larger than 1048576 bytes/);
        expect(err.details).to.deep.equal({ maxResponseBytes: MIB, status: 200 });
      } finally {
        await c.close();
      }
    });

    it("stops reading a chunked answer once it passes the limit", async () => {
      const c = client();
      sent = 0;
      try {
        const err = await failure(
          c.interaction({
            operation: "search",
            resourceType: "Patient",
            params: { size: String(64 * MIB), chunked: "1" },
          }),
        );
        expect(err.code).to.equal("FHIR_RESPONSE_TOO_LARGE");
        // The server got to send little more than the limit plus what the sockets buffer, not 64 MiB.
        expect(sent).to.be.below(16 * MIB);
      } finally {
        await c.close();
      }
    });

    it("reads an answer up to the limit", async () => {
      const c = client();
      try {
        for (const chunked of ["", "1"]) {
          const ok = await c.interaction({
            operation: "search",
            resourceType: "Patient",
            params: { size: String(MIB - 100), ...(chunked ? { chunked } : {}) },
          });
          expect((ok.body as { text: string }).text).to.have.length(MIB - 100);
        }
      } finally {
        await c.close();
      }
    });

    it("is a configuration error below 1 KiB", () => {
      expect(() => new FhirClient({ baseUrl: server.url, authType: "none", maxResponseBytes: 10 })).to.throw(
        /maxResponseBytes must be a whole number of at least 1024/,
      );
    });
  });
});
