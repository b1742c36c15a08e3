/**
 * Every code the pack can raise, once: what it means, what to do about it, and which nodes'
 * help lists it. Flows and Catch nodes match on these strings, so a code's value never changes.
 * docs/errors.md is generated from this table (`node dist/scripts/errors-doc.js` after a build),
 * and test/lib/error-codes.spec.ts keeps it, the code and every node's help in step with the table.
 */

export type NodeType =
  | "capability-check"
  | "durable-queue"
  | "fhir-request"
  | "fhir-server"
  | "health-monitor"
  | "hl7-fhir"
  | "hl7-parse"
  | "hmac-request"
  | "legacy-api"
  | "message-store"
  | "mllp-in"
  | "mllp-out"
  | "pms-fhir-map"
  | "queue-done"
  | "sync-checkpoint"
  | "webhook-in"
  | "webhook-verify";

/**
 * How a code reaches the user: `error` goes to `done(err)` (a Catch node) or is logged for a
 * configuration node; `rejection` goes out of a node's reject output or as an HTTP answer;
 * `warning` is logged or listed in `msg.mapping.warnings`; `dead-letter` is recorded on a
 * queued message; `lint` is a finding of the flow checker (lib/pipelines/flow-lint.ts);
 * `flow` is set by a shipped pipeline's function node.
 */
export type CodeKind = "error" | "rejection" | "warning" | "dead-letter" | "lint" | "flow";

export interface CodeInfo {
  kind: CodeKind;
  meaning: string;
  action: string;
  /** The nodes whose help lists the code under "Errors". */
  nodes: readonly NodeType[];
}

const REGISTRY = {
  // FHIR client, fhir-server, fhir-request
  FHIR_BAD_INPUT: {
    kind: "error",
    meaning:
      "The message cannot make a valid FHIR request: unknown operation, missing resource type or id, a body of the wrong shape, bad msg.params or msg.identifier, a resource type, search params or operation name from msg, context, env or JSONata that is not one. Nothing was sent.",
    action: "Fix the message or the node's properties; retrying the same message fails again.",
    nodes: ["fhir-request"],
  },
  FHIR_CONFIG: {
    kind: "error",
    meaning: "No usable fhir-server: none chosen, or its configuration is wrong (base URL, auth, a number).",
    action: "Read the log line written at deploy, fix the fhir-server node and deploy again.",
    nodes: ["fhir-request", "fhir-server"],
  },
  FHIR_NETWORK: {
    kind: "error",
    meaning: "The connection to the FHIR server failed or was reset, after the retries.",
    action: "Check that the server is up and reachable; a durable-queue retries it later.",
    nodes: ["fhir-request"],
  },
  FHIR_TIMEOUT: {
    kind: "error",
    meaning: "No complete answer within the fhir-server's timeout, after the retries.",
    action: "Check the server's load; raise the timeout or ask for smaller pages (_count).",
    nodes: ["fhir-request"],
  },
  FHIR_RESPONSE_TOO_LARGE: {
    kind: "error",
    meaning: "The answer's body is larger than the fhir-server's Max answer; it was not read nor retried.",
    action: "Ask for smaller pages (_count) or raise Max answer.",
    nodes: ["fhir-request", "fhir-server"],
  },
  FHIR_AUTH: {
    kind: "error",
    meaning:
      "No access token: the token endpoint or SMART discovery refused or could not be reached, the key does not fit, or a renewed token was refused too.",
    action: "Check the client id, secret or key and the token endpoint; the log says which step failed.",
    nodes: ["fhir-request", "fhir-server"],
  },
  FHIR_BAD_RESPONSE: {
    kind: "error",
    meaning:
      "The server answered 2xx with a body that is not FHIR JSON, or a search page that is not a Bundle.",
    action: "Check the base URL points at a FHIR R4 endpoint (not a login page or proxy).",
    nodes: ["fhir-request"],
  },
  FHIR_PAGING: {
    kind: "error",
    meaning: "search-all: a next link points to another origin; the credentials were not sent there.",
    action: "Fix the server's base URL setting (its links must use the base URL you configured).",
    nodes: ["fhir-request"],
  },
  FHIR_ABORTED: {
    kind: "error",
    meaning: "The flow was stopped or redeployed while the request waited or ran.",
    action: "None: send the message again once the flow runs; a durable-queue does so itself.",
    nodes: ["fhir-request"],
  },
  FHIR_CLOSED: {
    kind: "error",
    meaning: "The fhir-server was closed (flow stopped or redeployed) before the request could finish.",
    action: "None: send the message again once the flow runs; a durable-queue does so itself.",
    nodes: ["fhir-request", "fhir-server"],
  },
  FHIR_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside fhir-request or the FHIR client (a defect, not a server answer).",
    action: "Report it with the log line and the error's cause.",
    nodes: ["fhir-request"],
  },

  // legacy-api, hmac-request
  LEGACY_BAD_INPUT: {
    kind: "error",
    meaning:
      'msg.params or msg.headers has the wrong shape, or the path from msg, context, env or JSONata is missing, does not start with "/" or has a "." or ".." segment. Nothing was sent.',
    action: "Fix the message; retrying the same message fails again.",
    nodes: ["hmac-request"],
  },
  LEGACY_CONFIG: {
    kind: "error",
    meaning:
      "No usable legacy-api node, or a bad property: base URL, key or secret missing, a bad number or header name, method, paging, or a path expression that does not parse.",
    action: "Read the log line written at deploy, fix the node and deploy again.",
    nodes: ["hmac-request", "legacy-api"],
  },
  LEGACY_NETWORK: {
    kind: "error",
    meaning: "The PMS API could not be reached, after the retries.",
    action: "Check that the API is up and reachable; a durable-queue retries it later.",
    nodes: ["hmac-request"],
  },
  LEGACY_TIMEOUT: {
    kind: "error",
    meaning: "No complete answer from the PMS API within the timeout, after the retries.",
    action: "Check the API's load; raise the timeout or ask for smaller pages.",
    nodes: ["hmac-request"],
  },
  LEGACY_RESPONSE_TOO_LARGE: {
    kind: "error",
    meaning: "The answer's body is larger than the legacy-api's Max answer; it was not read nor retried.",
    action: "Ask for smaller pages or raise Max answer.",
    nodes: ["hmac-request", "legacy-api"],
  },
  LEGACY_PAGING: {
    kind: "error",
    meaning: "A page has no items array, or paging did not end within 1000 pages.",
    action: "Check the items property and the page size against the API.",
    nodes: ["hmac-request"],
  },
  LEGACY_PATH_PARAM: {
    kind: "error",
    meaning: 'A path placeholder has no value, is not a string or number, or is "." or "..".',
    action: "Give the placeholder a value in the message; retrying the same message fails again.",
    nodes: ["hmac-request"],
  },
  LEGACY_ABORTED: {
    kind: "error",
    meaning: "The flow was stopped or redeployed during the call.",
    action: "None: send the message again once the flow runs; a durable-queue does so itself.",
    nodes: ["hmac-request"],
  },
  LEGACY_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside hmac-request or the legacy client (a defect, not an API answer).",
    action: "Report it with the log line and the error's cause.",
    nodes: ["hmac-request"],
  },

  // webhook-in, webhook-verify
  WEBHOOK_CONFIG: {
    kind: "error",
    meaning:
      "A bad property: no URL or secrets, a Standard Webhooks secret that is not base64, an unknown scheme or method, a bad number.",
    action: "Read the log line written at deploy, fix the node and deploy again.",
    nodes: ["webhook-in", "webhook-verify"],
  },
  WEBHOOK_BODY_CONSUMED: {
    kind: "error",
    meaning:
      "Something before webhook-in read the request body (an httpNodeMiddleware, or an http in with raw body at the same URL); answered 500.",
    action: "Remove the other reader of that URL.",
    nodes: ["webhook-in"],
  },
  WEBHOOK_TOO_LARGE: {
    kind: "rejection",
    meaning: "The body is larger than the node's limit; answered 413 without reading the rest.",
    action: "None for an attack; raise the limit if real deliveries are that large.",
    nodes: ["webhook-in", "webhook-verify"],
  },
  WEBHOOK_BODY_TIMEOUT: {
    kind: "rejection",
    meaning: "The body did not arrive within the node's time limit; answered 408.",
    action: "None for a slow or hostile sender; the sender retries a real delivery.",
    nodes: ["webhook-in"],
  },
  WEBHOOK_ABORTED: {
    kind: "rejection",
    meaning: "The sender closed the connection before the body was complete.",
    action: "None: the sender retries a real delivery.",
    nodes: ["webhook-in"],
  },
  WEBHOOK_MALFORMED: {
    kind: "rejection",
    meaning: "Signature headers are missing or unreadable; answered 400 (output 2).",
    action: "Check the scheme matches the sender's.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_SIGNATURE: {
    kind: "rejection",
    meaning: "The signature does not match any configured secret; answered 401 (output 2).",
    action: "Check the secret and scheme; a forged request needs nothing.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_TIMESTAMP: {
    kind: "rejection",
    meaning:
      "The delivery's timestamp is outside the tolerance (stale or in the future); answered 401 (output 2).",
    action: "Check both clocks; a replayed request needs nothing.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_DUPLICATE: {
    kind: "rejection",
    meaning:
      "A delivery id already seen within the replay window; answered 202 (output 2), not processed again.",
    action: "None: the sender retried a delivery that was already taken.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_NOT_RAW: {
    kind: "error",
    meaning: "msg.payload is not a Buffer or string, so the signature cannot be checked; answered 500.",
    action: "Use webhook-in, or turn on raw body in http in.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_NO_REQUEST: {
    kind: "error",
    meaning: "No msg.req or msg.res: the node is not after a webhook-in or http in.",
    action: "Wire webhook-verify straight after webhook-in or http in.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_STORE: {
    kind: "error",
    meaning: "The context store for seen delivery ids could not be read or written; answered 503.",
    action: "Check the context store; the sender retries.",
    nodes: ["webhook-verify"],
  },
  WEBHOOK_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside webhook-verify (a defect); answered 500.",
    action: "Report it with the log line and the error's cause.",
    nodes: ["webhook-verify"],
  },

  // pms-fhir-map
  MAP_REQUIRED: {
    kind: "rejection",
    meaning: "A required value is missing in the record (output 2, msg.mapping.errors).",
    action: "Fix the record at its source, or make the rule optional.",
    nodes: ["pms-fhir-map"],
  },
  MAP_VALIDATE: {
    kind: "rejection",
    meaning: "A value failed its rule's validation (output 2, msg.mapping.errors).",
    action: "Fix the record at its source, or the rule's validator.",
    nodes: ["pms-fhir-map"],
  },
  MAP_TRANSFORM: {
    kind: "rejection",
    meaning:
      "A transform refused the value, a value has the wrong FHIR type, or two rules give one field different values (output 2).",
    action: "Fix the record, or the rule's transform or code map.",
    nodes: ["pms-fhir-map"],
  },
  MAP_INPUT: {
    kind: "error",
    meaning:
      "msg.payload is neither an object nor an array (done(err)), or an array element is not an object or a FHIR resource has another resourceType (output 2).",
    action: "Parse JSON text with a json node first; send records of the mapped type.",
    nodes: ["pms-fhir-map"],
  },
  MAP_COMPILE: {
    kind: "error",
    meaning: "The custom rules do not compile; every message fails with it.",
    action: "Fix the rules (the editor's Try it panel shows which rule and field).",
    nodes: ["pms-fhir-map"],
  },
  MAP_LOSSY: {
    kind: "warning",
    meaning: "A value was mapped but changed on the way (e.g. a gender X became unknown).",
    action: "Nothing, unless the round trip must be exact: then map the value explicitly.",
    nodes: ["pms-fhir-map"],
  },
  MAP_MULTIPLE: {
    kind: "warning",
    meaning: "Several FHIR elements matched where the PMS field holds one; the first was taken.",
    action: "Narrow the rule's path if another element is wanted.",
    nodes: ["pms-fhir-map"],
  },

  // sync-checkpoint
  CHECKPOINT_BUSY: {
    kind: "error",
    meaning:
      "get: another run holds a live lease on the checkpoint (msg.checkpoint.error.leaseExpiresAt), or the last run started less than Min interval ago (msg.checkpoint.error.nextRunAt); or, on a store several instances share, the checkpoint, run log or dead-letter list changed under the operation five times running.",
    action: "None: skip this run; the next one starts when the lease ends or the interval has passed.",
    nodes: ["sync-checkpoint"],
  },
  CHECKPOINT_STALE_RUN: {
    kind: "error",
    meaning: "commit or release: the runId no longer holds the checkpoint (taken over, reset, or committed).",
    action: "None for this run (its work is redone by the next); raise the lease if runs take longer.",
    nodes: ["sync-checkpoint"],
  },
  CHECKPOINT_BAD_INPUT: {
    kind: "error",
    meaning:
      "No checkpoint name, an unknown msg.action, a missing runId, a highWater that is not an ISO date-time with a zone, or a bad cursor.",
    action: "Fix the message; nothing was written.",
    nodes: ["sync-checkpoint"],
  },
  CHECKPOINT_STORE: {
    kind: "error",
    meaning: "The context store failed to read or write (the cause is the error's cause).",
    action: "Check the context store (file permissions, disk); nothing was written.",
    nodes: ["sync-checkpoint"],
  },
  CHECKPOINT_CORRUPT: {
    kind: "error",
    meaning: "The context key holds something that is not a checkpoint.",
    action: "Send a reset to clear it (the next run starts from Start at).",
    nodes: ["sync-checkpoint"],
  },
  CHECKPOINT_CONFIG: {
    kind: "error",
    meaning:
      "A bad property (action, start at, overlap, lease) or a store not in settings.js contextStorage.",
    action: "Fix the node or settings.js and deploy again.",
    nodes: ["sync-checkpoint"],
  },
  CHECKPOINT_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside sync-checkpoint (a defect).",
    action: "Report it with the log line and the error's cause.",
    nodes: ["sync-checkpoint"],
  },

  // health-monitor
  HEALTH_BAD_INPUT: {
    kind: "error",
    meaning:
      "msg.health is not an object with the documented fields (or a bad format asked of the HTTP endpoint).",
    action: "Fix the message; nothing was recorded.",
    nodes: ["health-monitor"],
  },
  HEALTH_CONFIG: {
    kind: "error",
    meaning:
      "A property is out of range, or the path is invalid or served by another health-monitor; the node records nothing.",
    action: "Read the log line written at deploy, fix the node and deploy again.",
    nodes: ["health-monitor"],
  },
  HEALTH_CONTEXT: {
    kind: "error",
    meaning:
      "The latest snapshot or the alert log could not be written to flow context (the context store failed or refused the value).",
    action:
      "Check the context store named in the node (a file store's disk, its settings); the monitoring itself goes on.",
    nodes: ["health-monitor"],
  },
  HEALTH_CLOSED: {
    kind: "rejection",
    meaning: "The HTTP endpoint was asked while its health-monitor is stopped; answered 503.",
    action: "None: ask again once the flow runs.",
    nodes: ["health-monitor"],
  },
  HEALTH_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside health-monitor (a defect).",
    action: "Report it with the log line and the error's cause.",
    nodes: ["health-monitor"],
  },

  // hl7-parse, hl7-fhir
  HL7_PARSE: {
    kind: "error",
    meaning:
      "The text is not an HL7 v2 message; msg.hl7.error says where (segment, position, field, reason).",
    action: "Fix the sender's message; retrying the same message fails again.",
    nodes: ["hl7-parse", "hl7-fhir", "mllp-in", "mllp-out"],
  },
  HL7_LIMIT: {
    kind: "error",
    meaning:
      "The message exceeds a parser limit; msg.hl7.error names the segment, field and limit (never a value).",
    action: "Raise the limit if real messages are that large; otherwise the sender is at fault.",
    nodes: ["hl7-parse", "hl7-fhir"],
  },
  HL7_BAD_INPUT: {
    kind: "error",
    meaning:
      "The payload is neither HL7 text nor a parsed message, or a structure of the wrong shape, or an ACK code that is not one of the six.",
    action: "Fix the message; retrying the same message fails again.",
    nodes: ["hl7-parse", "hl7-fhir", "mllp-out"],
  },
  HL7_CONFIG: {
    kind: "error",
    meaning:
      "A bad property: a limit that is not a whole number, the systems JSON, a time zone or an HL7 version.",
    action: "Fix the node and deploy again; every message fails until then.",
    nodes: ["hl7-parse", "hl7-fhir"],
  },
  HL7_VALIDATOR_MISSING: {
    kind: "error",
    meaning:
      "Strict validation is on but the optional hl7v2 package (with hl7v2-dictionary) is not installed, or would not load.",
    action:
      "Run npm install hl7v2@1.8.0 hl7v2-dictionary@1.8.0 in the Node-RED user directory and restart Node-RED, or turn validation off.",
    nodes: ["hl7-parse"],
  },
  HL7_CONVERT: {
    kind: "error",
    meaning:
      "A part the conversion needs is missing or invalid (e.g. a PID without identifier); location names the segment and field.",
    action: "Fix the message at its source; retrying the same message fails again.",
    nodes: ["hl7-fhir"],
  },
  HL7_UNSUPPORTED: {
    kind: "error",
    meaning: "A message type, trigger or resource type that is not converted; the message names it.",
    action: "Filter it out before the node, or convert it in the flow.",
    nodes: ["hl7-fhir"],
  },
  HL7_ACK_TYPE: {
    kind: "error",
    meaning: "MSH-15 or MSH-16 is not AL, NE, ER, SU or empty; answered CR with ERR at the field.",
    action: "Fix the sender's MSH-15/16.",
    nodes: ["mllp-in"],
  },

  // mllp-in, mllp-out
  MLLP_CONFIG: {
    kind: "error",
    meaning: "A bad property: host, port, TLS configuration, a limit that is not a number, or bad ACK codes.",
    action: "Read the log line written at deploy, fix the node and deploy again.",
    nodes: ["mllp-in", "mllp-out"],
  },
  MLLP_NAK: {
    kind: "error",
    meaning: "The receiver answered AE, AR, CE or CR; msg.hl7.error holds the ACK code, MSA-3 and ERR.",
    action: "AE/CE: a durable-queue retries. AR/CR: fix the message or the receiver's setup.",
    nodes: ["mllp-out"],
  },
  MLLP_TIMEOUT: {
    kind: "error",
    meaning: "No ACK after all attempts; the connection was reset.",
    action: "Check the receiver; raise the timeout if it is slow.",
    nodes: ["mllp-out"],
  },
  MLLP_CLOSED: {
    kind: "error",
    meaning: "The connection closed before the ACK (after all attempts), or the node closed.",
    action: "Check the receiver; a durable-queue retries.",
    nodes: ["mllp-out"],
  },
  MLLP_CONNECT: {
    kind: "error",
    meaning: "The connection could not be made, after all attempts.",
    action: "Check host, port, TLS and that the receiver listens; a durable-queue retries.",
    nodes: ["mllp-out"],
  },
  MLLP_APP_ACK_TIMEOUT: {
    kind: "error",
    meaning: "A commit ACK (CA) came but no application ACK within App ACK wait; the message is not resent.",
    action: "Check the receiver's application ACKs; raise App ACK wait.",
    nodes: ["mllp-out"],
  },
  MLLP_BAD_ACK: {
    kind: "error",
    meaning: "The answer is not a readable ACK (no MSH or MSA, an unknown MSA-1); not resent.",
    action: "Check the receiver speaks HL7 v2 ACKs on that port.",
    nodes: ["mllp-out"],
  },
  MLLP_QUEUE_FULL: {
    kind: "error",
    meaning: "Queue size messages are already waiting to be sent.",
    action: "Slow the input, raise Queue size, or put a durable-queue before the node.",
    nodes: ["mllp-out"],
  },
  MLLP_NO_SESSION: {
    kind: "error",
    meaning:
      "Reply mode: no msg._session from mllp-in, its connection is gone, or its message was already answered.",
    action: "Wire the reply after the mllp-in that received the message, and answer once.",
    nodes: ["mllp-out"],
  },
  MLLP_REPLY_TIMEOUT: {
    kind: "warning",
    meaning: "The flow did not answer in time; mllp-in answered AE itself (reply mode: raised by mllp-out).",
    action: "Make the flow answer faster or raise the reply timeout.",
    nodes: ["mllp-in", "mllp-out"],
  },
  MLLP_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside mllp-out (a defect).",
    action: "Report it with the log line and the error's cause.",
    nodes: ["mllp-out"],
  },
  MLLP_OVERSIZE: {
    kind: "error",
    meaning: "A frame above Max bytes; answered AR and the connection closed.",
    action: "Raise Max bytes if real messages are that large.",
    nodes: ["mllp-in"],
  },
  MLLP_FRAME_TIMEOUT: {
    kind: "error",
    meaning: "A frame not complete within Frame within; answered AR and the connection closed.",
    action: "Check the sender and the network; raise Frame within for slow links.",
    nodes: ["mllp-in"],
  },
  MLLP_BUDGET: {
    kind: "error",
    meaning:
      "The runtime's frame budget (settings.mllpInFrameBudget) is held; answered AR and the connection closed.",
    action: "None: the sender resends later; raise the budget if it happens under normal load.",
    nodes: ["mllp-in"],
  },
  MLLP_REFUSED: {
    kind: "warning",
    meaning: "How many refused frames in the last 10 s were not raised one by one.",
    action: "Look at the sender(s) named in the earlier errors.",
    nodes: ["mllp-in"],
  },
  MLLP_DISCARDED: {
    kind: "warning",
    meaning: "Bytes outside MLLP frames were discarded.",
    action: "Check the sender's framing.",
    nodes: ["mllp-in"],
  },
  MLLP_CONNECTION_LIMIT: {
    kind: "warning",
    meaning: "A connection was refused: Max connections are open.",
    action: "Raise Max connections, or find the sender that does not close its connections.",
    nodes: ["mllp-in"],
  },
  MLLP_DEDUPE_CONFLICT: {
    kind: "warning",
    meaning: "A control id seen before came with other content; it was processed as a new message.",
    action: "Check the sender reuses control ids only for resends.",
    nodes: ["mllp-in"],
  },
  MLLP_DEDUPE_STORE: {
    kind: "warning",
    meaning:
      "The shared de-duplication store (a message-store chosen as Keep window in) could not be read or written: a message was processed as new, or other instances will not know one accepted here.",
    action: "Check the message-store's database; the warning stops when it answers again.",
    nodes: ["mllp-in"],
  },
  MLLP_WARNINGS: {
    kind: "warning",
    meaning: "How many further warnings in the last 10 s were not logged one by one.",
    action: "Look at the warnings logged before it.",
    nodes: ["mllp-in"],
  },

  // message-store, durable-queue, queue-done
  QUEUE_CONFIG: {
    kind: "error",
    meaning:
      "No usable message store (cannot be opened, not a message store, newer schema, wrong key), a bad property, or the queue name already held.",
    action: "Read the log line written at deploy, fix the node or the store and deploy again.",
    nodes: ["durable-queue", "message-store"],
  },
  QUEUE_STORE: {
    kind: "error",
    meaning:
      "The message store could not commit (disk full, file unwritable or locked, store closed; PostgreSQL down, unreachable or refusing the role).",
    action:
      "Answer the sender with a failure (HTTP 503, HL7 AE) so it resends; fix the disk, file or database connection.",
    nodes: ["durable-queue", "queue-done", "message-store"],
  },
  QUEUE_BAD_INPUT: {
    kind: "error",
    meaning:
      "The order key gave an object or its JSONata failed; no or incomplete msg.queue on queue-done; a bad admin API request.",
    action: "Fix the key expression or the message.",
    nodes: ["durable-queue", "message-store", "queue-done"],
  },
  QUEUE_NOT_FOUND: {
    kind: "error",
    meaning: "The queue's durable-queue, the store or the message is not there (redeployed, or a wrong id).",
    action: "None for a redeploy (the new durable-queue delivers again); check ids given to the admin API.",
    nodes: ["message-store", "queue-done"],
  },
  QUEUE_KEY: {
    kind: "error",
    meaning:
      "The store's encryption key does not open the stored messages, or a store sealed with a key is opened without one (refused, so that nothing is stored unencrypted).",
    action: "Set the key the store was created with, and deploy again.",
    nodes: ["message-store"],
  },
  QUEUE_ERROR: {
    kind: "error",
    meaning:
      "An unforeseen fault inside the queue nodes or the admin API (a defect), or a dead letter with no code.",
    action: "Report it with the log line and the error's cause.",
    nodes: ["durable-queue", "message-store", "queue-done"],
  },
  QUEUE_FAILED: {
    kind: "dead-letter",
    meaning: "A delivery failed without a code (queue-done got no msg.error code).",
    action: "Give the failure a code in the flow, so the retry policy can decide.",
    nodes: ["queue-done"],
  },
  QUEUE_EXPIRED: {
    kind: "dead-letter",
    meaning: "A message stayed in the queue longer than Max age and became a dead letter.",
    action: "Fix the destination, then replay the dead letters.",
    nodes: ["durable-queue"],
  },
  QUEUE_INTERRUPTED: {
    kind: "dead-letter",
    meaning: "A delivery was interrupted (crash, restart) more times than the attempts allow.",
    action: "Find out why the runtime stops during this delivery, then replay it.",
    nodes: ["durable-queue"],
  },
  QUEUE_CORRUPT: {
    kind: "dead-letter",
    meaning: "A stored message could not be decoded and became a dead letter.",
    action: "Discard it; check the disk and the store's key.",
    nodes: ["durable-queue"],
  },

  // lib/pipelines/flow-lint.ts
  FLOW_SHAPE: {
    kind: "lint",
    meaning: "A flow file is not one tab of well-formed nodes with well-formed wires.",
    action: "Export the pipeline again from Node-RED as one tab.",
    nodes: [],
  },
  FLOW_UNKNOWN_TYPE: {
    kind: "lint",
    meaning: "A node's type is neither core Node-RED nor this pack.",
    action: "Replace the node, or add its module to the pack's dependencies.",
    nodes: [],
  },
  FLOW_CREDENTIALS: {
    kind: "lint",
    meaning: "A node in the file carries a credentials property.",
    action: "Remove it: credentials live in Node-RED's credentials file only.",
    nodes: [],
  },
  FLOW_SECRET: {
    kind: "lint",
    meaning: "A property or environment variable in the file holds what looks like a secret.",
    action: "Use an environment variable of type cred, or credentials.",
    nodes: [],
  },
  FLOW_NO_COMMENT: {
    kind: "lint",
    meaning: "A pipeline has no Comment node that explains it.",
    action: "Add Comment nodes.",
    nodes: [],
  },
  FLOW_DANGLING: {
    kind: "lint",
    meaning: "A wire, link or config reference points at a node that is not in the file.",
    action: "Remove the reference or add the node.",
    nodes: [],
  },
  FLOW_DUPLICATE_ID: {
    kind: "lint",
    meaning: "A node id is used twice, in one file or across the shipped pipelines.",
    action: "Give the node a new id.",
    nodes: [],
  },
  FLOW_DUPLICATE_ROUTE: {
    kind: "lint",
    meaning: "Two shipped pipelines serve the same HTTP method and path.",
    action: "Change one of the URLs.",
    nodes: [],
  },

  // capability-check
  CAPABILITY_CONFIG: {
    kind: "error",
    meaning:
      "capability-check has neither a fhir-server nor a legacy-api, or a property (the context key) is invalid.",
    action: "Read the log line written at deploy, fix the node and deploy again.",
    nodes: ["capability-check"],
  },
  CAPABILITY_CONTEXT: {
    kind: "error",
    meaning:
      "The assessment could not be kept in flow context (the context store failed or refused the value).",
    action:
      "Check the context store named in the node; the report was not sent, so run the check again once the store works.",
    nodes: ["capability-check"],
  },
  CAPABILITY_ERROR: {
    kind: "error",
    meaning: "An unforeseen fault inside capability-check (a defect).",
    action: "Report it with the log line and the error's cause.",
    nodes: ["capability-check"],
  },
  SYNC_REFERENCE_NOT_FOUND: {
    kind: "rejection",
    meaning:
      "fhir-request upsert in Bundles: a resource refers (conditionally) to one the FHIR server does not hold (not written yet, or refused itself); it is listed in msg.fhir.refused and not written.",
    action:
      "Write the referenced record first; in batch-sync the record is sent again when it changes in the PMS.",
    nodes: ["fhir-request"],
  },
  SYNC_REFERENCE_AMBIGUOUS: {
    kind: "rejection",
    meaning:
      "fhir-request upsert in Bundles: a resource's conditional reference matches several resources on the FHIR server; it is listed in msg.fhir.refused and not written.",
    action: "Merge or retire the duplicates on the server.",
    nodes: ["fhir-request"],
  },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof REGISTRY;
/** A subset of the codes, checked: `Codes<"MAP_LOSSY" | "MAP_TYPO">` does not compile. */
export type Codes<K extends ErrorCode> = K;

/** Codes with a variable part: the HTTP status of the answer. */
const FAMILIES = {
  FHIR_HTTP_: {
    kind: "error",
    meaning:
      "The FHIR server answered this status (400 or above) after the retries, e.g. FHIR_HTTP_404, FHIR_HTTP_412 (stale ifMatch), FHIR_HTTP_422. The OperationOutcome is the error's details and msg.fhir.outcome.",
    action:
      "408, 425, 429 and 5xx: a durable-queue retries. Other 4xx: read the OperationOutcome and fix the request.",
    nodes: ["fhir-request"],
  },
  LEGACY_HTTP_: {
    kind: "error",
    meaning:
      "The PMS API answered this status (400 or above) after the retries, e.g. LEGACY_HTTP_401 (key or signature refused).",
    action: "408, 425, 429 and 5xx: a durable-queue retries. Other 4xx: fix the request or the credentials.",
    nodes: ["hmac-request"],
  },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCodeFamily = keyof typeof FAMILIES;
export type FamilyCode = `${ErrorCodeFamily}${number}`;
/** Any code a PackError may carry. */
export type PackErrorCode = ErrorCode | FamilyCode;

/** Each code as a constant: `CODES.HL7_PARSE === "HL7_PARSE"`. */
export const CODES: { readonly [K in ErrorCode]: K } = Object.freeze(
  Object.fromEntries(Object.keys(REGISTRY).map((k) => [k, k])),
) as { readonly [K in ErrorCode]: K };

export function fhirHttpCode(status: number): `FHIR_HTTP_${number}` {
  return `FHIR_HTTP_${status}`;
}

export function legacyHttpCode(status: number): `LEGACY_HTTP_${number}` {
  return `LEGACY_HTTP_${status}`;
}

export function isFhirHttpCode(code: string): code is `FHIR_HTTP_${number}` {
  return /^FHIR_HTTP_\d{3}$/.test(code);
}

export const ERROR_CODES: Readonly<Record<ErrorCode, CodeInfo>> = REGISTRY;
export const ERROR_CODE_FAMILIES: Readonly<Record<ErrorCodeFamily, CodeInfo>> = FAMILIES;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(REGISTRY, code);
}

/** The registry entry of a code, its family's for `FHIR_HTTP_404` and the like; undefined if unknown. */
export function describeCode(code: string): CodeInfo | undefined {
  if (isErrorCode(code)) return REGISTRY[code];
  const m = /^(FHIR_HTTP_|LEGACY_HTTP_)\d{3}$/.exec(code);
  return m ? FAMILIES[m[1] as ErrorCodeFamily] : undefined;
}

/** The codes a node's help lists under "Errors", families written as `FHIR_HTTP_<status>`. */
export function codesOfNode(node: NodeType): string[] {
  const out: string[] = [];
  for (const [code, info] of Object.entries(FAMILIES))
    if ((info.nodes as readonly NodeType[]).includes(node)) out.push(`${code}<status>`);
  for (const [code, info] of Object.entries(REGISTRY)) {
    if ((info.nodes as readonly NodeType[]).includes(node)) out.push(code);
  }
  return out;
}
