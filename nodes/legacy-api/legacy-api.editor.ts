import { isEnvReference as isEnv } from "../../lib/env";
import { HEADER_NAME } from "../../lib/http/header-name";
import { numberField } from "../../lib/number-prop";
import { httpUrlProblem } from "../../lib/http/url-rule";
import { unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface LegacyApiEditorProps {
    name: string;
    baseUrl: string;
    scheme: string;
    apiKeyHeader: string;
    timestampHeader: string;
    signatureHeader: string;
    encoding: string;
    timeout: string;
    maxResponseMB: string;
    retries: string;
  }
  interface LegacyApiEditorCreds {
    apiKey: string;
    apiSecret: string;
  }

  function httpUrl(v: string): true | string {
    const t = String(v ?? "").trim();
    return isEnv(t) || (httpUrlProblem(t) ?? true);
  }
  function intAtLeast(min: number) {
    return numberField({ min }, { env: true });
  }
  function header(v: string): true | string {
    const t = String(v ?? "").trim();
    return unless(
      t === "" || HEADER_NAME.test(t),
      "must be an HTTP header name such as X-API-Key (no spaces, colons or quotes)",
    );
  }
  function hostOf(url: string): string {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  }

  RED.nodes.registerType<LegacyApiEditorProps, LegacyApiEditorCreds>("legacy-api", {
    category: "config",
    defaults: withReasons<LegacyApiEditorProps>("legacy-api", {
      name: { value: "" },
      baseUrl: { value: "", required: true, validate: httpUrl },
      scheme: { value: "pms-hmac", validate: (v: string) => (v || "pms-hmac") === "pms-hmac" },
      apiKeyHeader: { value: "X-API-Key", validate: header },
      timestampHeader: { value: "X-Timestamp", validate: header },
      signatureHeader: { value: "X-Signature", validate: header },
      encoding: { value: "hex", validate: (v: string) => /^(hex|base64)$/.test(v || "hex") },
      timeout: { value: "30000", validate: intAtLeast(1) },
      retries: { value: "3", validate: intAtLeast(0) },
      maxResponseMB: { value: "64", validate: intAtLeast(1) },
    }),
    credentials: {
      apiKey: { type: "password" },
      apiSecret: { type: "password" },
    },
    label: function () {
      return this.name || hostOf(this.baseUrl) || "legacy api";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
  });
})();
