import { expect } from "chai";
import { FhirError, summarizeCapabilities } from "../../../lib/fhir";

const statement = {
  resourceType: "CapabilityStatement",
  status: "active",
  fhirVersion: "4.0.1",
  software: { name: "Example EHR", version: "9.1" },
  format: ["json", "application/fhir+json", "json"],
  instantiates: ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data|2.0.0"],
  implementationGuide: [
    "http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/hl7.fhir.uv.subscriptions-backport",
  ],
  rest: [
    {
      mode: "server",
      security: {
        cors: true,
        service: [
          {
            coding: [
              {
                system: "http://terminology.hl7.org/CodeSystem/restful-security-service",
                code: "SMART-on-FHIR",
              },
            ],
          },
          { coding: [{ code: "OAuth" }] },
        ],
        extension: [
          {
            url: "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            extension: [
              { url: "token", valueUri: "https://auth.example.org/token" },
              { url: "authorize", valueUri: "https://auth.example.org/authorize" },
            ],
          },
        ],
      },
      resource: [
        {
          type: "Patient",
          interaction: [{ code: "read" }, { code: "search-type" }, { code: "update" }, { code: "create" }],
          searchParam: [
            { name: "identifier", type: "token" },
            { name: "name", type: "string" },
          ],
          operation: [
            { name: "everything", definition: "http://hl7.org/fhir/OperationDefinition/Patient-everything" },
            { name: "export" },
          ],
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: "single",
          conditionalRead: "not-supported",
        },
        {
          type: "Subscription",
          interaction: [{ code: "create" }],
          extension: [
            {
              url: "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical",
              valueCanonical: "http://example.org/topic/encounter-start",
            },
          ],
        },
        { type: "Group", operation: [{ name: "$export" }] },
      ],
      interaction: [{ code: "transaction" }, { code: "batch" }, { code: "search-system" }],
      operation: [{ name: "export" }, { name: "$get-resource-counts" }],
      extension: [
        {
          url: "http://hl7.org/fhir/StructureDefinition/capabilitystatement-websocket",
          valueUrl: "wss://x/ws",
        },
        {
          url: "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-channel-type",
          valueCoding: { code: "rest-hook" },
        },
      ],
    },
  ],
};

describe("lib/fhir summarizeCapabilities", () => {
  it("summarises versions, formats, resources and system-level features", () => {
    const s = summarizeCapabilities(statement);
    expect(s.fhirVersion).to.equal("4.0.1");
    expect(s.software).to.deep.equal({ name: "Example EHR", version: "9.1" });
    expect(s.formats).to.deep.equal(["json", "application/fhir+json"]);
    expect(s.resources.Patient).to.deep.equal({
      interactions: ["read", "search-type", "update", "create"],
      searchParams: ["identifier", "name"],
      operations: ["$everything", "$export"],
      conditional: ["create", "update", "delete"],
    });
    expect(s.interactions).to.deep.equal(["transaction", "batch", "search-system"]);
    expect(s.operations).to.deep.equal(["$export", "$get-resource-counts"]);
    expect(s.statement).to.equal(statement);
  });

  it("finds SMART from the service coding and the oauth-uris extension", () => {
    const s = summarizeCapabilities(statement);
    expect(s.security).to.include({
      smart: true,
      tokenUrl: "https://auth.example.org/token",
      authorizeUrl: "https://auth.example.org/authorize",
      cors: true,
    });
    expect(s.security.services).to.deep.equal(["SMART-on-FHIR", "OAuth"]);
  });

  it("prefers the smart-configuration's endpoints and reports its capabilities", () => {
    const s = summarizeCapabilities(statement, {
      token_endpoint: "https://auth2.example.org/token",
      authorization_endpoint: "https://auth2.example.org/auth",
      capabilities: ["client-confidential-asymmetric", "permission-v2"],
      token_endpoint_auth_methods_supported: ["private_key_jwt"],
      scopes_supported: ["system/*.rs"],
    });
    expect(s.security.tokenUrl).to.equal("https://auth2.example.org/token");
    expect(s.security.authorizeUrl).to.equal("https://auth2.example.org/auth");
    expect(s.security.capabilities).to.deep.equal(["client-confidential-asymmetric", "permission-v2"]);
    expect(s.security.tokenEndpointAuthMethods).to.deep.equal(["private_key_jwt"]);
    expect(s.security.scopesSupported).to.deep.equal(["system/*.rs"]);
    expect(s.smartConfiguration).to.be.an("object");
  });

  it("reports SMART from a smart-configuration alone", () => {
    const plain = { resourceType: "CapabilityStatement", rest: [{ mode: "server" }] };
    expect(summarizeCapabilities(plain).security.smart).to.equal(false);
    expect(summarizeCapabilities(plain, { token_endpoint: "https://t" }).security.smart).to.equal(true);
  });

  it("reports bulk data from $export operations and from instantiates", () => {
    const s = summarizeCapabilities(statement);
    expect(s.bulkData).to.equal(true);
    expect(s.bulkExport).to.deep.equal(["$export", "Patient/$export", "Group/$export"]);
    const onlyInstantiates = summarizeCapabilities({
      resourceType: "CapabilityStatement",
      instantiates: ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
      rest: [{ mode: "server" }],
    });
    expect(onlyInstantiates.bulkData).to.equal(true);
    expect(onlyInstantiates.bulkExport).to.deep.equal([]);
    const none = summarizeCapabilities({
      resourceType: "CapabilityStatement",
      rest: [{ mode: "server", resource: [] }],
    });
    expect(none.bulkData).to.equal(false);
  });

  it("reports subscriptions, channel types and backport topics", () => {
    const s = summarizeCapabilities(statement);
    expect(s.subscriptions.supported).to.equal(true);
    expect(s.subscriptions.channelTypes).to.deep.equal(["websocket", "rest-hook"]);
    expect(s.subscriptions.topics).to.deep.equal(["http://example.org/topic/encounter-start"]);
    expect(s.subscriptions.backport).to.equal(true);
    const none = summarizeCapabilities({
      resourceType: "CapabilityStatement",
      rest: [{ mode: "server", resource: [{ type: "Patient" }] }],
    });
    expect(none.subscriptions).to.deep.include({ supported: false, channelTypes: [], backport: false });
  });

  it("uses the server rest entry, not a client one", () => {
    const s = summarizeCapabilities({
      resourceType: "CapabilityStatement",
      rest: [
        { mode: "client", resource: [{ type: "Observation" }] },
        { mode: "server", resource: [{ type: "Patient" }] },
      ],
    });
    expect(Object.keys(s.resources)).to.deep.equal(["Patient"]);
  });

  it("tolerates a sparse statement", () => {
    const s = summarizeCapabilities({ resourceType: "CapabilityStatement" });
    expect(s).to.deep.include({
      formats: [],
      resources: {},
      interactions: [],
      operations: [],
      bulkData: false,
    });
    expect(s.security.smart).to.equal(false);
  });

  it("throws FHIR_BAD_RESPONSE for something that is not a CapabilityStatement", () => {
    for (const bad of [undefined, "text", { resourceType: "OperationOutcome", issue: [] }]) {
      expect(() => summarizeCapabilities(bad))
        .to.throw(FhirError)
        .with.property("code", "FHIR_BAD_RESPONSE");
    }
  });
});
