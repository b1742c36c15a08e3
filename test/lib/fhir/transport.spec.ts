import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FhirClient, FhirError } from "../../../lib/fhir";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/fhir+json" });
  res.end(JSON.stringify(body));
}

const statement = { resourceType: "CapabilityStatement", fhirVersion: "4.0.1", rest: [{ mode: "server" }] };

async function failure(p: Promise<unknown>): Promise<FhirError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected a rejection").to.be.instanceOf(FhirError);
  return err as FhirError;
}

/**
 * Transport behaviour that the sandbox cannot show: TLS options, next links to other origins,
 * keep-alive reuse on a bare server.
 */
describe("lib/fhir transport (local servers)", function () {
  describe("TLS (options as core tls-config gives them)", () => {
    let dir: string;
    let cert: string;
    let server: Server;
    let base: string;
    const tokenRequests: Array<{ authorization?: string; form: URLSearchParams }> = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "fhir-tls-"));
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "2",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
      cert = readFileSync(join(dir, "cert.pem"), "utf8");
      server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert }, (req, res) => {
        if (req.url === "/fhir/metadata") return json(res, 200, statement);
        if (req.url === "/fhir/.well-known/smart-configuration") {
          // Only client_secret_post: the client must send the secret in the form, not as Basic.
          return json(res, 200, {
            token_endpoint: `${base.replace(/\/fhir$/, "")}/token`,
            token_endpoint_auth_methods_supported: ["client_secret_post"],
          });
        }
        if (req.url === "/token") {
          let text = "";
          req.on("data", (c: Buffer) => (text += c.toString()));
          req.on("end", () => {
            const form = new URLSearchParams(text);
            tokenRequests.push({ authorization: req.headers.authorization, form });
            const ok = form.get("client_id") === "tls-client" && form.get("client_secret") === "tls-secret";
            if (!ok) return json(res, 401, { error: "invalid_client" });
            json(res, 200, { access_token: "tls-token", token_type: "Bearer", expires_in: 300 });
          });
          return;
        }
        if (req.url === "/fhir/Patient/1") {
          if (req.headers.authorization !== "Bearer tls-token") return json(res, 401, {});
          return json(res, 200, { resourceType: "Patient", id: "1" });
        }
        json(res, 404, {
          resourceType: "OperationOutcome",
          issue: [{ severity: "error", code: "not-found" }],
        });
      });
      base = `https://127.0.0.1:${await listen(server)}/fhir`;
    });

    after(async () => {
      await close(server);
      rmSync(dir, { recursive: true, force: true });
    });

    it("trusts a server certificate through the ca option", async () => {
      const client = new FhirClient({ baseUrl: base, authType: "none", tls: { ca: cert } });
      try {
        const summary = await client.capabilities();
        expect(summary.fhirVersion).to.equal("4.0.1");
      } finally {
        await client.close();
      }
    });

    it("discovers the token endpoint and fetches tokens over the same TLS settings (client_secret_post)", async () => {
      const client = new FhirClient({
        baseUrl: base,
        authType: "client-credentials",
        clientId: "tls-client",
        credentials: { clientSecret: "tls-secret" },
        tls: { ca: cert },
      });
      try {
        const read = await client.interaction({ operation: "read", resourceType: "Patient", id: "1" });
        expect(read.meta.status).to.equal(200);
        expect(tokenRequests).to.have.length(1);
        expect(tokenRequests[0]!.authorization).to.equal(undefined);
        expect(tokenRequests[0]!.form.get("grant_type")).to.equal("client_credentials");
      } finally {
        await client.close();
      }
    });

    it("refuses an untrusted certificate with FHIR_NETWORK, and honours rejectUnauthorized=false", async () => {
      const strict = new FhirClient({ baseUrl: base, authType: "none", retries: 0 });
      try {
        const err = await failure(strict.interaction({ operation: "capabilities" }));
        expect(err.code).to.equal("FHIR_NETWORK");
        expect(err.message).to.match(/certificate/i);
        expect(err.meta).to.deep.include({ status: 0, attempts: 1 });
      } finally {
        await strict.close();
      }
      const lax = new FhirClient({ baseUrl: base, authType: "none", tls: { rejectUnauthorized: false } });
      try {
        expect((await lax.interaction({ operation: "capabilities" })).meta.status).to.equal(200);
      } finally {
        await lax.close();
      }
    });
  });

  describe("plain HTTP", () => {
    let server: Server;
    let port: number;
    let handler: Handler;
    let connections = 0;

    before(async () => {
      server = createHttpServer((req, res) => handler(req, res));
      server.on("connection", () => connections++);
      port = await listen(server);
    });

    after(() => close(server));

    it("reuses keep-alive connections for sequential requests", async () => {
      handler = (_req, res) => json(res, 200, { resourceType: "Patient", id: "1" });
      const before = connections;
      const client = new FhirClient({ baseUrl: `http://127.0.0.1:${port}/fhir/`, authType: "none" });
      try {
        for (let i = 0; i < 10; i++)
          await client.interaction({ operation: "read", resourceType: "Patient", id: "1" });
        // undici's Pool may open a second socket while the first is finishing a response; never more.
        expect(client.stats().connectionsOpened).to.be.within(1, 2);
        expect(connections - before).to.equal(client.stats().connectionsOpened);
        expect(client.stats()).to.deep.include({ requests: 10, retries: 0, inFlight: 0, queued: 0 });
      } finally {
        await client.close();
      }
    });

    it("follows relative next links, and refuses one to another origin (credentials stay home)", async () => {
      const seen: Array<string | undefined> = [];
      handler = (req, res) => {
        seen.push(req.headers.authorization);
        const url = new URL(req.url ?? "/", "http://x");
        const page = Number(url.searchParams.get("page") ?? "1");
        const entry = [{ resource: { resourceType: "Patient", id: `p${page}` } }];
        const link =
          page === 1
            ? [{ relation: "next", url: "Patient?page=2" }]
            : page === 2
              ? [{ relation: "next", url: `http://localhost:${port}/fhir/Patient?page=3` }]
              : [];
        json(res, 200, { resourceType: "Bundle", type: "searchset", link, entry });
      };
      const client = new FhirClient({
        baseUrl: `http://127.0.0.1:${port}/fhir`,
        authType: "bearer",
        credentials: { token: "static-token-value" },
      });
      try {
        const err = await failure(client.interaction({ operation: "search-all", resourceType: "Patient" }));
        expect(err.code).to.equal("FHIR_PAGING");
        expect(err.meta?.pages).to.equal(2);
        expect(seen).to.have.length(2);
      } finally {
        await client.close();
      }
    });

    it("stops at a next link it already fetched (a looping server)", async () => {
      handler = (_req, res) =>
        json(res, 200, {
          resourceType: "Bundle",
          type: "searchset",
          link: [{ relation: "next", url: `http://127.0.0.1:${port}/fhir/Patient` }],
          entry: [{ resource: { resourceType: "Patient", id: "same" } }],
        });
      const client = new FhirClient({ baseUrl: `http://127.0.0.1:${port}/fhir`, authType: "none" });
      try {
        const result = await client.interaction({ operation: "search-all", resourceType: "Patient" });
        expect(result.meta.pages).to.equal(1);
        expect((result.body as { total: number }).total).to.equal(1);
      } finally {
        await client.close();
      }
    });

    it("synthesises an OperationOutcome for a non-FHIR error page, without copying it", async () => {
      handler = (_req, res) => {
        res.writeHead(500, { "content-type": "text/html" });
        res.end("<html>Jane Doe 1970-01-01</html>");
      };
      const client = new FhirClient({ baseUrl: `http://127.0.0.1:${port}/fhir`, authType: "none" });
      try {
        const err = await failure(
          client.interaction({ operation: "read", resourceType: "Patient", id: "1" }),
        );
        expect(err.code).to.equal("FHIR_HTTP_500");
        expect(err.details).to.deep.equal({
          resourceType: "OperationOutcome",
          issue: [{ severity: "error", code: "exception", diagnostics: "HTTP 500 Internal Server Error" }],
        });
        expect(err.meta?.outcome).to.deep.equal(err.details);
        expect(JSON.stringify(err.details) + err.message).to.not.include("Jane");
      } finally {
        await client.close();
      }
    });

    it("holds writes of one business key back until the previous one answered; other keys overlap", async () => {
      const active = new Map<string, number>();
      const peak = new Map<string, number>();
      let overallActive = 0;
      let overallPeak = 0;
      handler = (req, res) => {
        const key = `${req.method} ${req.url} ${String(req.headers["if-none-exist"] ?? "")}`;
        active.set(key, (active.get(key) ?? 0) + 1);
        peak.set(key, Math.max(peak.get(key) ?? 0, active.get(key)!));
        overallPeak = Math.max(overallPeak, ++overallActive);
        req.resume();
        setTimeout(() => {
          active.set(key, active.get(key)! - 1);
          overallActive--;
          json(res, 200, { resourceType: "Patient", id: "x" });
        }, 15);
      };
      const client = new FhirClient({ baseUrl: `http://127.0.0.1:${port}/fhir`, authType: "none" });
      const body = (mrn: string) => ({
        resourceType: "Patient",
        identifier: [{ system: "urn:mrn", value: mrn }],
      });
      try {
        await Promise.all([
          ...Array.from({ length: 6 }, () => client.interaction({ operation: "upsert", body: body("same") })),
          ...Array.from({ length: 4 }, () =>
            client.interaction({ operation: "create", body: body("c"), ifNoneExist: "identifier=urn:mrn|c" }),
          ),
          ...Array.from({ length: 4 }, (_, i) =>
            client.interaction({ operation: "upsert", body: body(`other-${i}`) }),
          ),
        ]);
        expect(peak.get("PUT /fhir/Patient?identifier=urn%3Amrn%7Csame ")).to.equal(1);
        expect(peak.get("POST /fhir/Patient identifier=urn:mrn|c")).to.equal(1);
        expect(overallPeak).to.be.at.least(3);
      } finally {
        await client.close();
      }
    });

    it("sends operations as GET with parameters, or POST with a Parameters body", async () => {
      const seen: Array<{ method?: string; url?: string; body: string; type?: string }> = [];
      handler = (req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          seen.push({ method: req.method, url: req.url, body, type: req.headers["content-type"] });
          json(res, 200, { resourceType: "Bundle", type: "searchset" });
        });
      };
      const client = new FhirClient({ baseUrl: `http://127.0.0.1:${port}/fhir`, authType: "none" });
      try {
        await client.interaction({
          operation: "operation",
          resourceType: "Patient",
          id: "p1",
          operationName: "$everything",
          params: { _count: 5 },
        });
        const parameters = { resourceType: "Parameters", parameter: [{ name: "mode", valueCode: "create" }] };
        await client.interaction({
          operation: "operation",
          resourceType: "Patient",
          operationName: "validate",
          body: parameters,
        });
        expect(seen[0]).to.deep.include({
          method: "GET",
          url: "/fhir/Patient/p1/$everything?_count=5",
          body: "",
        });
        expect(seen[1]).to.deep.include({
          method: "POST",
          url: "/fhir/Patient/$validate",
          type: "application/fhir+json",
        });
        expect(JSON.parse(seen[1]!.body)).to.deep.equal(parameters);
      } finally {
        await client.close();
      }
    });

    it("stops waiting for a slow token endpoint when the caller aborts", async () => {
      let tokenAnswered = false;
      handler = (req, res) => {
        req.resume();
        if (req.url === "/token") {
          setTimeout(() => {
            tokenAnswered = true;
            json(res, 200, { access_token: "slow", expires_in: 60 });
          }, 400);
          return;
        }
        json(res, 200, { resourceType: "Patient", id: "1" });
      };
      const client = new FhirClient({
        baseUrl: `http://127.0.0.1:${port}/fhir`,
        authType: "client-credentials",
        tokenUrl: `http://127.0.0.1:${port}/token`,
        clientId: "c",
        credentials: { clientSecret: "s" },
      });
      try {
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 20);
        const err = await failure(
          client.interaction(
            { operation: "read", resourceType: "Patient", id: "1" },
            { signal: controller.signal },
          ),
        );
        expect(err.code).to.equal("FHIR_ABORTED");
        expect(err.meta?.attempts).to.equal(0);
        expect(tokenAnswered).to.equal(false);
        // The token fetch it left behind still lands in the cache for the next caller.
        const ok = await client.interaction({ operation: "read", resourceType: "Patient", id: "1" });
        expect(ok.meta.status).to.equal(200);
        expect(client.stats().tokenFetches).to.equal(1);
      } finally {
        await client.close();
      }
    });

    it("answers FHIR_ABORTED when the caller's signal fires, and FHIR_CLOSED after close", async () => {
      handler = (_req, res) => setTimeout(() => json(res, 200, { resourceType: "Patient", id: "1" }), 300);
      const client = new FhirClient({
        baseUrl: `http://127.0.0.1:${port}/fhir`,
        authType: "none",
        maxConcurrent: 1,
      });
      const controller = new AbortController();
      const first = client.interaction(
        { operation: "read", resourceType: "Patient", id: "1" },
        { signal: controller.signal },
      );
      const queued = client.interaction({ operation: "read", resourceType: "Patient", id: "2" });
      setTimeout(() => controller.abort(), 20);
      const aborted = await failure(first);
      expect(aborted.code).to.equal("FHIR_ABORTED");
      expect((await queued).meta.status).to.equal(200);
      const slow = client.interaction({ operation: "read", resourceType: "Patient", id: "3" });
      const waiting = ["4", "5", "6"].map((id) =>
        client.interaction({ operation: "read", resourceType: "Patient", id }),
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(client.stats()).to.deep.include({ inFlight: 1, queued: 3 });
      const closing = client.close();
      const cancelled = await Promise.all(waiting.map(failure));
      expect(cancelled.map((e) => e.code)).to.deep.equal(["FHIR_CLOSED", "FHIR_CLOSED", "FHIR_CLOSED"]);
      expect(cancelled.map((e) => e.meta?.request.url.split("/").pop())).to.deep.equal(["4", "5", "6"]);
      expect((await slow).meta.status).to.equal(200);
      await closing;
      const late = await failure(client.interaction({ operation: "read", resourceType: "Patient", id: "7" }));
      expect(late.code).to.equal("FHIR_CLOSED");
    });
  });
});
