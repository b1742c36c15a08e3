(function () {
  interface MessageStoreEditorProps {
    name: string;
    backend: string;
    file: string;
    keepDelivered: string;
    synchronous: string;
  }
  interface MessageStoreEditorCreds {
    encryptionKey: string;
  }

  function trimmed(v: string): string {
    return String(v ?? "").trim();
  }

  RED.nodes.registerType<MessageStoreEditorProps, MessageStoreEditorCreds>("message-store", {
    category: "config",
    defaults: {
      name: { value: "" },
      backend: { value: "sqlite", validate: (v: string) => (v || "sqlite") === "sqlite" },
      file: { value: "pms-ehr-messages.db", validate: (v: string) => trimmed(v).length <= 500 },
      keepDelivered: {
        value: "0",
        validate: (v: string) => trimmed(v) === "" || /^\d+(\.\d+)?$/.test(trimmed(v)),
      },
      synchronous: { value: "normal", validate: (v: string) => /^(normal|full)$/.test(v || "normal") },
    },
    credentials: {
      encryptionKey: { type: "password" },
    },
    label: function () {
      return this.name || trimmed(this.file) || "message store";
    },
    labelStyle: function () {
      return this.name ? "node_label_italic" : "";
    },
  });
})();
