import { isEnvReference as isEnv } from "../../lib/env";
import { smartKeyProblem } from "../../lib/fhir/smart-key";
import { AUTH_TYPES, JWT_ALGS, type JwtAlg } from "../../lib/fhir/types";
import { numberField } from "../../lib/number-prop";
import { httpUrlProblem } from "../../lib/http/url-rule";
import { liveValue, markField, unless, withReasons } from "../shared/reasons.editor";

(function () {
  interface FhirServerEditorProps {
    name: string;
    baseUrl: string;
    fhirVersion: string;
    authType: string;
    tokenUrl: string;
    scope: string;
    clientId: string;
    jwtAlg: string;
    keyId: string;
    timeout: string;
    retries: string;
    maxConcurrent: string;
    maxResponseMB: string;
    tls: string;
  }
  interface FhirServerEditorCreds {
    username: string;
    password: string;
    token: string;
    clientSecret: string;
    privateKey: string;
  }

  const STORED = "__PWRD__";

  function httpUrl(v: string): true | string {
    const t = String(v ?? "").trim();
    return isEnv(t) || (httpUrlProblem(t) ?? true);
  }
  function intAtLeast(min: number) {
    return numberField({ min }, { env: true });
  }
  function authTypeOf(node: { id?: string; authType?: string }): string {
    return liveValue(node, "#node-config-input-authType", node.authType) || "none";
  }
  function needs(types: string[]) {
    return function (this: { id?: string; authType?: string }, v: string): true | string {
      const type = authTypeOf(this);
      return unless(!types.includes(type) || String(v ?? "").trim() !== "", `required for ${type} auth`);
    };
  }
  function hostOf(url: string): string {
    try {
      return new URL(url).host;
    } catch {
      return url;
    }
  }

  RED.nodes.registerType<FhirServerEditorProps, FhirServerEditorCreds>("fhir-server", {
    category: "config",
    defaults: withReasons<FhirServerEditorProps>("fhir-server", {
      name: { value: "" },
      baseUrl: { value: "", required: true, validate: httpUrl },
      fhirVersion: {
        value: "4.0.1",
        validate: (v: string) =>
          unless(
            /^\d+\.\d+\.\d+$/.test(String(v ?? "").trim()) || isEnv(v),
            "must be a FHIR version such as 4.0.1",
          ),
      },
      authType: {
        value: "none",
        validate: (v: string) => (AUTH_TYPES as readonly string[]).includes(v || "none") || isEnv(v),
      },
      tokenUrl: { value: "", validate: (v: string) => String(v ?? "").trim() === "" || httpUrl(v) },
      scope: { value: "" },
      clientId: { value: "", validate: needs(["client-credentials", "smart-backend"]) },
      jwtAlg: {
        value: "RS384",
        validate: (v: string) => (JWT_ALGS as readonly string[]).includes(v || "RS384") || isEnv(v),
      },
      keyId: { value: "" },
      timeout: { value: "30000", validate: intAtLeast(1) },
      retries: { value: "3", validate: intAtLeast(0) },
      maxConcurrent: { value: "8", validate: intAtLeast(1) },
      maxResponseMB: { value: "64", validate: intAtLeast(1) },
      tls: { value: "", type: "tls-config", required: false },
    }),
    credentials: {
      username: { type: "text" },
      password: { type: "password" },
      token: { type: "password" },
      clientSecret: { type: "password" },
      privateKey: { type: "password" },
    },
    label: function () {
      return this.name || hostOf(this.baseUrl) || "fhir server";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
    oneditprepare: function () {
      const authSelect = $("#node-config-input-authType");
      function showAuthRows(): void {
        const type = String(authSelect.val() || "none");
        $(".fhir-server-auth-row").hide();
        $(`.fhir-server-auth-${type}`).show();
        RED.tray.resize();
      }
      authSelect.on("change", showAuthRows);
      if (!this.authType) authSelect.val("none");
      showAuthRows();

      // The stored key never comes back to the editor: the hidden credential input holds
      // the "stored" marker until the user pastes a new key or removes it.
      const keyInput = $("#node-config-input-privateKey");
      const keyText = $("#node-config-privateKey-text");
      const keyRemove = $("#node-config-privateKey-remove");
      const original = String(keyInput.val() ?? "");
      const stored = original === STORED;
      keyText.attr(
        "placeholder",
        stored
          ? this._("fhir-server.placeholder.privateKeyStored")
          : this._("fhir-server.placeholder.privateKey"),
      );
      keyRemove.toggle(stored);
      // Checked as it is typed, like the fields Node-RED validates: the key is a credential
      // behind a hidden input, which Node-RED cannot mark.
      const keyLabel = this._("fhir-server.label.privateKey");
      function checkKey(): void {
        const typed = String(keyText.val() ?? "");
        let problem: string | undefined;
        if (authSelect.val() !== "smart-backend") problem = undefined;
        else if (typed.trim() !== "")
          problem = smartKeyProblem(typed, ($("#node-config-input-jwtAlg").val() || "RS384") as JwtAlg);
        else if (keyInput.val() !== STORED) problem = "a private key is required";
        markField(keyText, problem === undefined ? undefined : `${keyLabel}: ${problem}`);
      }
      keyText.on("input change", function () {
        const typed = String(keyText.val() ?? "");
        keyInput.val(typed.trim() !== "" ? typed : original);
        checkKey();
      });
      keyRemove.on("click", (e: JQuery.ClickEvent) => {
        e.preventDefault();
        keyInput.val("");
        keyText.val("");
        keyText.attr("placeholder", this._("fhir-server.placeholder.privateKeyRemoved"));
        keyRemove.hide();
        checkKey();
      });
      authSelect.on("change", checkKey);
      $("#node-config-input-jwtAlg").on("change", checkKey);
      checkKey();

      const useTls = $("#node-config-input-usetls");
      function showTls(): void {
        $("#node-config-row-tls").toggle(useTls.is(":checked"));
        RED.tray.resize();
      }
      useTls.prop("checked", !!this.tls);
      useTls.on("change", showTls);
      showTls();
    },
    oneditsave: function () {
      if (!$("#node-config-input-usetls").is(":checked")) {
        $("#node-config-input-tls").val("_ADD_");
      }
    },
  });
})();
