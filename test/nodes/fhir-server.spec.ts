/* eslint-disable @typescript-eslint/no-explicit-any -- messages, flows and log entries are dynamic JSON */
import { expect } from "chai";
import { EventEmitter } from "node:events";
import diagnostics from "node:diagnostics_channel";
import { connect, type AddressInfo, type Socket } from "node:net";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { exportJWK, exportPKCS8, generateKeyPair } from "jose";
import helper from "node-red-node-test-helper";
import fhirServerNode from "../../nodes/fhir-server/fhir-server";
import fhirRequestNode from "../../nodes/fhir-request/fhir-request";
import type { FhirServerNode } from "../../nodes/fhir-server/types";
import { startFhirSandbox, type FhirSandbox } from "../../sandbox/fhir/server";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tlsConfigNode = require("@node-red/nodes/core/network/05-tls.js");

helper.init(require.resolve("node-red"));

const TAB = "tab-srv";
const BASIC_PASSWORD = "basic-pw-7f3a9c0e";
const STATIC_TOKEN = "static-token-5b2e81d7";
const CLIENT_SECRET = "cc-secret-91d4e06a";
const WRONG_SECRET = "wrong-secret-3c77ab12";
const PHI_FAMILY = "Zebediah-Quixote";
const PHI_MRN = "MRN-4471-PHI";

// A self-signed certificate for 127.0.0.1 (valid until 2126), only for the TLS test below.
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBrjCCAVWgAwIBAgIUPpvqo0E9fjB9w6AG82yVaxqDy8UwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTZmhpci10ZXN0LmxvY2FsaG9zdDAgFw0yNjExMjUxMzAzMDda
GA8yMTI2MTEwMTEzMDMwN1owHjEcMBoGA1UEAwwTZmhpci10ZXN0LmxvY2FsaG9z
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABP9s6SrFBN5NDDY0f+eBSpNqV1ma
3lsIBhFYD54ZMa80vjbIpB1B0v3qsIIY7MqK/PgksurjzNTBqfObyQNl3mGjbzBt
MB0GA1UdDgQWBBSZWQl6LVDCAkSjln3kpLWNAR0S5jAfBgNVHSMEGDAWgBSZWQl6
LVDCAkSjln3kpLWNAR0S5jAPBgNVHRMBAf8EBTADAQH/MBoGA1UdEQQTMBGHBH8A
AAGCCWxvY2FsaG9zdDAKBggqhkjOPQQDAgNHADBEAiAM5+m5bra358q+1NuM+VWp
qfIeYmJmAnwycrGtTsGOpQIgSO4+2H3MteJCiapIQZPuDi1l/XI0jd7upuwWzirH
QQg=
-----END CERTIFICATE-----
`;
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgzByuDKxP8k0Crejy
OPcL1Lc8Kn9ey75bFyTe4M8OxjChRANCAAT/bOkqxQTeTQw2NH/ngUqTaldZmt5b
CAYRWA+eGTGvNL42yKQdQdL96rCCGOzKivz4JLLq48zUwanzm8kDZd5h
-----END PRIVATE KEY-----
`;

type Msg = Record<string, any>;

let open: FhirSandbox;
let secured: FhirSandbox;
let rsPrivatePem: string;
let esPrivateJwk: string;
const sink = new EventEmitter();
const statuses = new Map<string, Array<Record<string, unknown>>>();
/** Every log entry of every flow loaded in this file (the helper's spy is reset on each load). */
const logEntries: Array<Record<string, unknown>> = [];

const runtimeEvents = (helper as unknown as { _events: EventEmitter })._events;
runtimeEvents.on("node-status", (e: { id: string; status: Record<string, unknown> }) => {
  const calls = statuses.get(e.id) ?? [];
  calls.push(e.status);
  statuses.set(e.id, calls);
});

function serverDef(props: Record<string, unknown>): Msg {
  return {
    id: "srv",
    type: "fhir-server",
    name: "",
    baseUrl: open.url,
    fhirVersion: "4.0.1",
    authType: "none",
    tokenUrl: "",
    scope: "",
    clientId: "",
    jwtAlg: "RS384",
    keyId: "",
    timeout: "5000",
    retries: "1",
    maxConcurrent: "4",
    tls: "",
    ...props,
  };
}

/** A tab with one fhir-request (search Patient by default) using the config node "srv", and a Catch. */
function flowWith(server: Msg, request: Msg = {}, extra: Msg[] = []): Msg[] {
  return [
    { id: TAB, type: "tab", label: "fhir-server" },
    server,
    {
      id: "req",
      type: "fhir-request",
      z: TAB,
      x: 0,
      y: 0,
      name: "",
      server: "srv",
      operation: "search",
      resourceType: "Patient",
      searchParams: "_count=1",
      operationName: "",
      maxPages: "100",
      output: "bundle",
      integration: "fhir",
      wires: [["out"]],
      ...request,
    },
    { id: "out", type: "helper", z: TAB, x: 0, y: 0 },
    { id: "catch", type: "catch", z: TAB, x: 0, y: 0, scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", type: "helper", z: TAB, x: 0, y: 0 },
    ...extra,
  ];
}

function wireSink(): void {
  helper.getNode("out").on("input", (m: Msg) => sink.emit("out", m));
  helper.getNode("caught").on("input", (m: Msg) => sink.emit("caught", m));
}

async function load(flow: Msg[], credentials: Record<string, unknown> = {}): Promise<void> {
  await helper.load([fhirServerNode, fhirRequestNode, tlsConfigNode], flow as any, credentials as any);
  wireSink();
}

/** Sends msgs into "req" at once; resolves with every output or the first caught msg. */
function exchange(msgs: Msg[]): Promise<{ out: Msg[]; caught?: Msg }> {
  return new Promise((resolve) => {
    const out: Msg[] = [];
    const finish = (result: { out: Msg[]; caught?: Msg }): void => {
      sink.removeAllListeners();
      resolve(result);
    };
    sink.on("out", (m: Msg) => {
      out.push(m);
      if (out.length === msgs.length) finish({ out });
    });
    sink.on("caught", (m: Msg) => finish({ out, caught: m }));
    for (const m of msgs) helper.getNode("req").receive(m);
  });
}

async function ok(msg: Msg = {}): Promise<Msg> {
  const r = await exchange([msg]);
  if (r.caught) throw new Error(`failed: ${r.caught.error?.code} ${r.caught.error?.message}`);
  return r.out[0];
}

async function fails(msg: Msg = {}): Promise<Msg> {
  const r = await exchange([msg]);
  if (!r.caught) throw new Error(`unexpectedly succeeded with status ${r.out[0]?.fhir?.status}`);
  return r.caught;
}

function redNodes(): {
  getFlows(): unknown;
  setFlows(flows: Msg[], creds: object, type: string): Promise<unknown>;
} {
  return (helper as unknown as { _redNodes: ReturnType<typeof redNodes> })._redNodes;
}

function serverNode(): FhirServerNode {
  return helper.getNode("srv") as unknown as FhirServerNode;
}

function collectLogs(): void {
  const spy = helper.log() as unknown as { args?: unknown[][] } | undefined;
  for (const args of spy?.args ?? []) logEntries.push(args[0] as Record<string, unknown>);
}

/** Every socket undici connects in this process (the client side of each pool). */
const undiciSockets: Socket[] = [];
diagnostics.subscribe("undici:client:connected", (message) => {
  undiciSockets.push((message as { socket: Socket }).socket);
});

function openSocketsTo(port: number): Socket[] {
  return undiciSockets.filter((s) => !s.destroyed && s.remotePort === port);
}

describe("fhir-server config node", function () {
  this.timeout(20000);

  before(async () => {
    const rs = await generateKeyPair("RS384", { extractable: true });
    const es = await generateKeyPair("ES384", { extractable: true });
    rsPrivatePem = await exportPKCS8(rs.privateKey);
    esPrivateJwk = JSON.stringify({ ...(await exportJWK(es.privateKey)), kid: "es-1", alg: "ES384" });
    open = await startFhirSandbox({ port: 0 });
    secured = await startFhirSandbox({
      port: 0,
      auth: true,
      basicUsers: { alice: BASIC_PASSWORD },
      staticTokens: [STATIC_TOKEN],
      clients: [
        { clientId: "cc-client", clientSecret: CLIENT_SECRET },
        {
          clientId: "jwt-client",
          jwks: {
            keys: [
              { ...(await exportJWK(rs.publicKey)), kid: "rs-1", alg: "RS384", use: "sig" },
              { ...(await exportJWK(es.publicKey)), kid: "es-1", alg: "ES384", use: "sig" },
            ],
          },
        },
      ],
    });
  });
  after(async () => {
    await open.close();
    await secured.close();
  });
  beforeEach(() => {
    statuses.clear();
  });
  afterEach(async () => {
    collectLogs();
    sink.removeAllListeners();
    await helper.unload();
    delete process.env.FHIR_SPEC_BASE_URL;
  });

  describe("configuration", () => {
    it("takes the base URL from a ${ENV_VAR}", async () => {
      process.env.FHIR_SPEC_BASE_URL = open.url;
      await load(flowWith(serverDef({ baseUrl: "${FHIR_SPEC_BASE_URL}" })));
      const msg = await ok({});
      expect(msg.fhir.status).to.equal(200);
      expect(msg.fhir.request.url).to.equal(`${open.url}/Patient?_count=1`);
      expect(serverNode().client?.baseUrl).to.equal(open.url);
    });

    const broken: Array<[string, Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [
        "an unset environment variable",
        { baseUrl: "${FHIR_SPEC_UNSET_VAR}" },
        {},
        /FHIR_SPEC_UNSET_VAR.*not set/,
      ],
      ["an empty base URL", { baseUrl: "" }, {}, /baseUrl is empty/],
      ["a non-http base URL", { baseUrl: "ftp://127.0.0.1/fhir" }, {}, /http or https/],
      ["a user in the base URL", { baseUrl: "http://bob:pw@127.0.0.1/fhir" }, {}, /credentials|user/],
      ["a bad timeout", { timeout: "soon" }, {}, /timeout/],
      ["a negative retries", { retries: "-1" }, {}, /retries/],
      ["maxConcurrent 0", { maxConcurrent: "0" }, {}, /maxConcurrent/],
      ["an unknown auth type", { authType: "kerberos" }, {}, /authType/],
      ["basic without a username", { authType: "basic" }, { password: BASIC_PASSWORD }, /username/],
      ["bearer without a token", { authType: "bearer" }, {}, /token/],
      [
        "client-credentials without a secret",
        { authType: "client-credentials", clientId: "cc" },
        {},
        /secret/,
      ],
      [
        "smart-backend without a client id",
        { authType: "smart-backend" },
        { privateKey: rsPrivatePem },
        /client id/,
      ],
      [
        "a bad token URL",
        { authType: "client-credentials", clientId: "c", tokenUrl: "token" },
        { clientSecret: CLIENT_SECRET },
        /tokenUrl/,
      ],
      ["a missing tls-config node", { tls: "no-such-tls" }, {}, /tls-config/],
      ["a max answer of 0 MiB", { maxResponseMB: "0" }, {}, /maxResponseMB must be an integer >= 1/],
    ];

    it("warns once when credentials would go over plain http to another machine, naming the host only", async () => {
      await load(
        flowWith(
          serverDef({ baseUrl: "http://ehr.invalid:8080/fhir", authType: "basic", maxResponseMB: "2" }),
        ),
        { srv: { username: "alice", password: BASIC_PASSWORD } },
      );
      const warned = helper
        .log()
        .args.map((a) => a[0] as { level: number; id?: string; msg?: unknown })
        .filter((e) => e.id === "srv" && e.level === 30)
        .map((e) => String(e.msg));
      expect(warned).to.deep.equal([
        "fhir-server: basic credentials go to ehr.invalid:8080 over plain http: use https",
      ]);
      expect(serverNode().configError).to.equal(undefined);
    });

    for (const [name, props, credentials, reason] of broken) {
      it(`${name}: logs why once, and requests fail with FHIR_CONFIG without sending anything`, async () => {
        await load(flowWith(serverDef(props)), { srv: credentials });
        const logged = helper
          .log()
          .args.map((a) => a[0] as { level: number; id?: string; msg?: unknown })
          .filter((e) => e.id === "srv" && e.level === 20);
        expect(logged).to.have.length(1);
        expect(String(logged[0].msg)).to.match(reason);
        const before = open.stats().requests;
        const caught = await fails({});
        expect(caught.error.code).to.equal("FHIR_CONFIG");
        expect(caught.error.message).to.match(reason);
        expect(open.stats().requests).to.equal(before);
      });
    }
  });

  describe("auth modes", () => {
    it("none against a server that wants a token: FHIR_HTTP_401", async () => {
      await load(flowWith(serverDef({ baseUrl: secured.url })));
      const caught = await fails({});
      expect(caught.error.code).to.equal("FHIR_HTTP_401");
      expect(caught.fhir.status).to.equal(401);
    });

    it("basic", async () => {
      await load(flowWith(serverDef({ baseUrl: secured.url, authType: "basic" })), {
        srv: { username: "alice", password: BASIC_PASSWORD },
      });
      expect((await ok()).fhir.status).to.equal(200);
    });

    it("bearer", async () => {
      await load(flowWith(serverDef({ baseUrl: secured.url, authType: "bearer" })), {
        srv: { token: STATIC_TOKEN },
      });
      expect((await ok()).fhir.status).to.equal(200);
    });

    it("client-credentials: token URL discovered, one token for concurrent requests, renewed once after a 401", async () => {
      await load(
        flowWith(
          serverDef({
            baseUrl: secured.url,
            authType: "client-credentials",
            clientId: "cc-client",
            scope: "system/*.rs",
          }),
        ),
        { srv: { clientSecret: CLIENT_SECRET } },
      );
      const issued = secured.stats().tokensIssued;
      const first = await exchange(Array.from({ length: 8 }, () => ({})));
      expect(first.caught).to.equal(undefined);
      expect(first.out.map((m) => m.fhir.status)).to.deep.equal(Array(8).fill(200));
      expect(serverNode().client!.stats().tokenFetches).to.equal(1);
      expect(secured.stats().tokensIssued - issued).to.equal(1);

      secured.expireTokens();
      statuses.delete("req");
      const renewed = await ok();
      expect(renewed.fhir.status).to.equal(200);
      expect(serverNode().client!.stats().tokenFetches).to.equal(2);
      expect(statuses.get("req")).to.deep.equal([
        { fill: "blue", shape: "dot", text: "GET Patient" },
        { fill: "yellow", shape: "ring", text: "retry 1 (401)" },
        { fill: "green", shape: "dot", text: "200 search" },
      ]);
    });

    it("client-credentials with a wrong secret: FHIR_AUTH, and the secret is in no message", async () => {
      await load(
        flowWith(
          serverDef({
            baseUrl: secured.url,
            authType: "client-credentials",
            clientId: "cc-client",
            tokenUrl: secured.tokenUrl,
          }),
        ),
        { srv: { clientSecret: WRONG_SECRET } },
      );
      const caught = await fails({});
      expect(caught.error.code).to.equal("FHIR_AUTH");
      expect(JSON.stringify(caught)).not.to.contain(WRONG_SECRET);
    });

    it("smart-backend with an RS384 PEM key and with an ES384 JWK", async () => {
      await load(
        flowWith(
          serverDef({
            baseUrl: secured.url,
            authType: "smart-backend",
            clientId: "jwt-client",
            jwtAlg: "RS384",
            keyId: "rs-1",
            scope: "system/*.rs",
          }),
        ),
        { srv: { privateKey: rsPrivatePem } },
      );
      expect((await ok()).fhir.status).to.equal(200);
      await helper.unload();

      await load(
        flowWith(
          serverDef({
            baseUrl: secured.url,
            authType: "smart-backend",
            clientId: "jwt-client",
            jwtAlg: "ES384",
            keyId: "es-1",
          }),
        ),
        { srv: { privateKey: esPrivateJwk } },
      );
      expect((await ok()).fhir.status).to.equal(200);
    });
  });

  describe("secrets and PHI", () => {
    it("a deploy with credentials keeps them out of the flow config, and the node still uses them", async () => {
      await helper.load([fhirServerNode, fhirRequestNode], flowWith(serverDef({})) as any);
      const deployed = flowWith(serverDef({ baseUrl: secured.url, authType: "bearer" }));
      deployed[1].credentials = {
        token: STATIC_TOKEN,
        password: BASIC_PASSWORD,
        clientSecret: CLIENT_SECRET,
        privateKey: rsPrivatePem,
      };
      // A deploy as the editor makes it: the credentials inline on the node. The runtime starts
      // the new flows after setFlows resolves.
      await redNodes().setFlows(deployed, {}, "full");
      for (let i = 0; i < 200 && !helper.getNode("out"); i++) await new Promise((r) => setTimeout(r, 10));
      wireSink();
      expect((await ok()).fhir.status).to.equal(200);

      const flows = JSON.stringify(
        (helper as unknown as { _redNodes: { getFlows(): unknown } })._redNodes.getFlows(),
      );
      expect(flows).to.contain(secured.url);
      for (const secret of [STATIC_TOKEN, BASIC_PASSWORD, CLIENT_SECRET, rsPrivatePem.split("\n")[1]]) {
        expect(flows).not.to.contain(secret);
      }
      const cfg = JSON.stringify(helper.getNode("srv"), (k, v) =>
        k === "credentials" || k.startsWith("_") ? undefined : v,
      );
      expect(cfg).not.to.contain(STATIC_TOKEN);
    });

    it("declares every secret as a password credential, so the editor never gets it back", () => {
      const defs = (
        helper as unknown as {
          credentials: { getDefinition(type: string): Record<string, { type: string }> };
        }
      ).credentials;
      return load(flowWith(serverDef({}))).then(() => {
        expect(defs.getDefinition("fhir-server")).to.deep.equal({
          username: { type: "text" },
          password: { type: "password" },
          token: { type: "password" },
          clientSecret: { type: "password" },
          privateKey: { type: "password" },
        });
      });
    });

    it("failures with secrets and PHI in play log neither at info level or above", async () => {
      await load(
        flowWith(
          serverDef({
            baseUrl: secured.url,
            authType: "client-credentials",
            clientId: "cc-client",
            tokenUrl: secured.tokenUrl,
          }),
          {},
          [
            { id: "srv2", type: "fhir-server", baseUrl: secured.url, authType: "bearer", retries: "0" },
            {
              id: "create2",
              type: "fhir-request",
              z: TAB,
              x: 0,
              y: 0,
              server: "srv2",
              operation: "create",
              resourceType: "Patient",
              wires: [["out"]],
            },
            {
              id: "search2",
              type: "fhir-request",
              z: TAB,
              x: 0,
              y: 0,
              server: "srv2",
              operation: "search",
              resourceType: "Patient",
              searchParams: `family=${PHI_FAMILY}`,
              wires: [["out"]],
            },
          ],
        ),
        { srv: { clientSecret: WRONG_SECRET }, srv2: { token: STATIC_TOKEN } },
      );
      await fails({ params: { family: PHI_FAMILY } });
      const send = (id: string, msg: Msg): Promise<Msg> =>
        new Promise((resolve) => {
          sink.once("caught", resolve);
          sink.once("out", resolve);
          helper.getNode(id).receive(msg);
        });
      const invalid = {
        resourceType: "Patient",
        identifier: [{ value: PHI_MRN }],
        name: [{ family: PHI_FAMILY }],
        birthDate: `born ${PHI_FAMILY}`,
        favouriteColour: PHI_FAMILY,
      };
      const created = await send("create2", { payload: invalid });
      expect(created.error?.code).to.match(/^FHIR_HTTP_4/);
      secured.faults.next(1, { status: 503 });
      const searched = await send("search2", { params: { identifier: PHI_MRN } });
      expect(searched.error?.code).to.equal("FHIR_HTTP_503");
      await fails({ payload: invalid, params: `identifier=${PHI_MRN}`, resourceType: "Nope!" });

      collectLogs();
      const visible = logEntries.filter((e) => typeof e.level === "number" && e.level <= 40);
      expect(
        visible.some((e) => e.level === 20),
        "the failures were logged",
      ).to.equal(true);
      const text = JSON.stringify(visible);
      for (const secret of [WRONG_SECRET, STATIC_TOKEN, CLIENT_SECRET, BASIC_PASSWORD, PHI_FAMILY, PHI_MRN]) {
        expect(text).not.to.contain(secret);
      }
    });
  });

  describe("connection pool", () => {
    it("opens at most maxConcurrent connections, and closes them all when the flow stops", async () => {
      await load(flowWith(serverDef({ maxConcurrent: "3" }), { operation: "read" }));
      const acceptedBefore = open.stats().connections;
      const codes: string[] = [];
      await new Promise<void>((resolve) => {
        sink.on("caught", (m: Msg) => {
          codes.push(m.error.code);
          if (codes.length === 24) resolve();
        });
        for (let i = 0; i < 24; i++) helper.getNode("req").receive({ id: `n${i}` });
      });
      expect(codes).to.deep.equal(Array(24).fill("FHIR_HTTP_404"));
      const client = serverNode().client!;
      const opened = client.stats().connectionsOpened;
      expect(opened).to.be.within(1, 3);
      expect(open.stats().connections - acceptedBefore).to.equal(opened);
      expect(openSocketsTo(open.port).length).to.equal(opened);

      await helper.unload();
      expect(serverNode()).to.equal(null);
      expect(openSocketsTo(open.port)).to.have.length(0);
      await helper.load([fhirServerNode, fhirRequestNode], flowWith(serverDef({})) as any);
    });
  });

  describe("TLS", () => {
    let proxy: TlsServer;
    let proxyPort: number;

    before(async () => {
      // TLS in front of the sandbox: the client must verify this self-signed certificate.
      proxy = createTlsServer({ cert: TEST_CERT, key: TEST_KEY }, (tlsSocket) => {
        const upstream = connect(open.port, "127.0.0.1");
        tlsSocket.pipe(upstream).pipe(tlsSocket);
        tlsSocket.on("error", () => upstream.destroy());
        upstream.on("error", () => tlsSocket.destroy());
      });
      proxy.on("tlsClientError", () => undefined);
      await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
      proxyPort = (proxy.address() as AddressInfo).port;
    });
    after(async () => {
      await new Promise((r) => proxy.close(r));
    });

    const tlsNode = (verify: boolean): Msg => ({
      id: "tls",
      type: "tls-config",
      name: "",
      cert: "",
      key: "",
      ca: "",
      certname: "",
      keyname: "",
      caname: "",
      servername: "",
      verifyservercert: verify,
      alpnprotocol: "",
    });

    it("uses the CA of a core tls-config node", async () => {
      const base = `https://127.0.0.1:${proxyPort}/fhir/R4`;
      await load(flowWith(serverDef({ baseUrl: base, tls: "tls" }), {}, [tlsNode(true)]), {
        tls: { cadata: TEST_CERT },
      });
      const msg = await ok();
      expect(msg.fhir.status).to.equal(200);
      expect(msg.fhir.request.url).to.equal(`${base}/Patient?_count=1`);
    });

    it("refuses the self-signed certificate without it: FHIR_NETWORK", async () => {
      await load(flowWith(serverDef({ baseUrl: `https://127.0.0.1:${proxyPort}/fhir/R4`, retries: "0" })));
      const caught = await fails();
      expect(caught.error.code).to.equal("FHIR_NETWORK");
    });
  });
});
