/* eslint-disable @typescript-eslint/no-explicit-any -- Node-RED messages are dynamic */
import { expect } from "chai";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import helper from "node-red-node-test-helper";
import { DEFAULT_HL7_LIMITS, parseHl7 } from "../../lib/hl7";
import hl7ParseNode from "../../nodes/hl7-parse/hl7-parse";
import { fixture, fixtureBytes } from "../lib/hl7/fixtures";
import { collect, receive, sleep, type Msg } from "./mllp-support";

// The core split/join pair: join in automatic mode must collect what a batch split sends.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const splitJoinNodes = require("@node-red/nodes/core/sequence/17-split.js");

// eslint-disable-next-line @typescript-eslint/no-require-imports
const injectNode = require("@node-red/nodes/core/common/20-inject.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const changeNode = require("@node-red/nodes/core/function/15-change.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const commentNode = require("@node-red/nodes/core/common/90-comment.js");

helper.init(require.resolve("node-red"));

const ROOT = join(__dirname, __dirname.includes("dist") ? "../../.." : "../..");

const TAB = "tab-hl7-parse";

async function load(props: Record<string, unknown> = {}, extra: any[] = []): Promise<void> {
  const flow: any[] = [
    { id: TAB, type: "tab", label: "hl7-parse" },
    { id: "parse", z: TAB, type: "hl7-parse", wires: [["out"]], ...props },
    { id: "out", z: TAB, type: "helper" },
    { id: "catch", z: TAB, type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: TAB, type: "helper" },
    ...extra,
  ];
  await helper.load(
    [hl7ParseNode, splitJoinNodes],
    flow.map((n) => (n.type === "tab" ? n : { x: 0, y: 0, ...n })),
  );
}

/**
 * Sends a good message after a refused one and resolves, once it is out, with the control IDs
 * `out` got: the node handles its input in order, so whatever the refused one sent came first.
 */
async function onlyAfter(out: Msg[]): Promise<string[]> {
  const marked = receive("out");
  helper
    .getNode("parse")
    .receive({ payload: "MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|MARK-1|P|2.5.1\rPID|1\r" } as any);
  await marked;
  return out.map((m) => String(m.hl7?.controlId));
}

describe("hl7-parse node", function () {
  this.timeout(20_000);
  afterEach(() => helper.unload());
  after((done) => {
    helper.stopServer(done);
  });

  it("text -> structure with msg.hl7 and msg.topic (v2.3, v2.5.1 LF, v2.8 CR LF, BOM Buffer)", async () => {
    await load();
    const cases: Array<[string | Buffer, string, string]> = [
      [fixture("adt-a01-v2.3.hl7"), "ADT^A01", "2.3"],
      [fixture("adt-a04-v2.5.1-lf.hl7"), "ADT^A04", "2.5.1"],
      [fixture("siu-s12-v2.8-crlf.hl7"), "SIU^S12", "2.8"],
      [fixtureBytes("escapes-bom-v2.5.1.hl7"), "ADT^A08", "2.5.1"],
    ];
    for (const [payload, topic, version] of cases) {
      const got = receive("out");
      helper.getNode("parse").receive({ payload, hl7: { kept: true } } as any);
      const [msg] = await got;
      expect(msg.topic).to.equal(topic);
      expect(msg.hl7).to.include({ version, kept: true });
      expect(msg.payload.segments[0][0]).to.equal("MSH");
      expect(msg.payload).to.deep.equal(parseHl7(payload).toJSON());
    }
  });

  it("structure -> text, and back to the same structure", async () => {
    await load();
    const json = parseHl7(fixture("escapes-bom-v2.5.1.hl7")).toJSON();
    const got = receive("out");
    helper.getNode("parse").receive({ payload: json } as any);
    const [msg] = await got;
    expect(msg.payload).to.be.a("string");
    expect(msg.payload.startsWith("MSH|^~\\&|LAB|GHH|")).to.equal(true);
    expect(msg.payload).to.include("O\\S\\Brien\\T\\Sons^Pat \\F\\ Lee~Smith\\R\\Jones^Al");
    expect(msg.hl7).to.include({ controlId: "ESC-0001", type: "ADT" });
    const back = parseHl7(msg.payload).toJSON();
    expect(back.segments.slice(0, 3)).to.deep.equal(json.segments.slice(0, 3));
    // \X0D0A\ in NTE-3 comes back as the line break it is
    expect(back.segments[3][3]).to.deep.equal(["Path C:\\data\\x \n ok \\H\\bold\\N\\ été"]);
  });

  it("splits a batch file into one msg per message with msg.parts, which join puts back together", async () => {
    await load({ wires: [["out", "join"]] }, [
      { id: "join", z: TAB, type: "join", mode: "auto", wires: [["joined"]] },
      { id: "joined", z: TAB, type: "helper" },
    ]);
    const got = receive("out", 3);
    const joined = receive("joined");
    helper.getNode("parse").receive({ payload: fixture("batch-v2.5.1.hl7") } as any);
    const msgs = await got;
    expect(msgs.map((m) => m.hl7.controlId)).to.deep.equal(["B1-1", "B1-2", "B2-1"]);
    expect(msgs.map((m) => m.parts.index)).to.deep.equal([0, 1, 2]);
    expect(new Set(msgs.map((m) => m.parts.id)).size).to.equal(1);
    expect(msgs[0].parts).to.include({ count: 3, type: "array" });
    const [all] = await joined;
    expect(all.payload.map((p: any) => p.segments[0][10][0])).to.deep.equal(["B1-1", "B1-2", "B2-1"]);
  });

  it("sends nothing of a batch with a bad message: HL7_PARSE names the message", async () => {
    await load();
    const out = collect("out");
    const caught = receive("caught");
    const bad = fixture("batch-v2.5.1.hl7").replace("PID|1||B1-2", "pid|1||B1-2");
    helper.getNode("parse").receive({ payload: bad } as any);
    const [c] = await caught;
    expect(c.error.message).to.match(/message 2 of the batch/);
    expect(c.hl7.error).to.include({ code: "HL7_PARSE", message: 2, position: 3 });
    expect(await onlyAfter(out)).to.deep.equal(["MARK-1"]);
  });

  it("malformed text: HL7_PARSE with segment and field in msg.hl7.error, nothing sent", async () => {
    await load();
    const out = collect("out");
    const caught = receive("caught");
    helper.getNode("parse").receive({ payload: "MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\rPID|1\r" } as any);
    const [c] = await caught;
    expect(c.error.message).to.match(/MSH-10/);
    expect(c.hl7.error).to.include({ code: "HL7_PARSE", segment: "MSH", field: 10, position: 1 });
    expect(await onlyAfter(out)).to.deep.equal(["MARK-1"]);
  });

  it("limits: a message over one reaches Catch as HL7_LIMIT with the place and the limit, a batch counts in all", async () => {
    await load({ maxRepetitionsPerField: "3", maxSegments: "" });
    const out = collect("out");
    const ok = receive("out");
    const text = "MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|L-1|P|2.5.1\rPID|1||a~b~c\r";
    helper.getNode("parse").receive({ payload: text } as any);
    await ok;
    const caught = receive("caught");
    helper.getNode("parse").receive({ payload: text.replace("a~b~c", "a~b~c~Secret") } as any);
    const [c] = await caught;
    expect(c.error.message)
      .to.match(/maxRepetitionsPerField/)
      .and.not.match(/Secret/);
    expect(c.hl7.error).to.deep.include({
      code: "HL7_LIMIT",
      segment: "PID",
      position: 2,
      field: 3,
      limit: "maxRepetitionsPerField",
      max: 3,
    });
    await helper.unload();
    await load({ maxSegments: "8" });
    const batchCaught = receive("caught");
    helper.getNode("parse").receive({ payload: fixture("batch-v2.5.1.hl7") } as any);
    const [b] = await batchCaught;
    expect(b.hl7.error).to.include({ code: "HL7_LIMIT", limit: "maxSegments", max: 8 });
    // a structure is held to the limits as text is
    await helper.unload();
    await load({ maxFieldsPerSegment: "5" });
    const structCaught = receive("caught");
    helper.getNode("parse").receive({ payload: parseHl7(text).toJSON() } as any);
    expect((await structCaught)[0].hl7.error).to.include({ code: "HL7_LIMIT", segment: "MSH" });
    // No message passes maxFieldsPerSegment 5 (an MSH has more) to follow this one as a marker,
    // and the node answers synchronously: a short bounded wait for anything sent after the error.
    await sleep(50);
    expect(out.filter((m) => m.hl7?.controlId === "L-1")).to.have.length(1);
  });

  it("limits: 0 is no limit; a limit that is not a whole number fails every message with HL7_CONFIG", async () => {
    await load({ maxSegments: "0", maxDelimiters: "0" });
    const msh = "MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|L-2|P|2.5.1\r";
    const many = msh + "NTE|1\r".repeat(DEFAULT_HL7_LIMITS.maxSegments + 1);
    const ok = receive("out");
    helper.getNode("parse").receive({ payload: many } as any);
    expect((await ok)[0].payload.segments).to.have.length(DEFAULT_HL7_LIMITS.maxSegments + 2);
    await helper.unload();
    await load({ maxSegmentLength: "ten" });
    const caught = receive("caught");
    helper.getNode("parse").receive({ payload: fixture("adt-a01-v2.5.1.hl7") } as any);
    const [c] = await caught;
    expect(c.error.code).to.equal("HL7_CONFIG");
    expect(c.error.message).to.match(/maxSegmentLength/);
  });

  it("help and form give every limit with its default", () => {
    const html = ["hl7-parse.html", "locales/en-US/hl7-parse.html"]
      .map((f) => readFileSync(join(ROOT, "nodes", "hl7-parse", f), "utf8"))
      .join("");
    for (const [name, value] of Object.entries(DEFAULT_HL7_LIMITS)) {
      expect(html, name).to.include(`<td><code>${name}</code></td>`);
      expect(html, name).to.include(`id="node-input-${name}" style="width: 110px" placeholder="${value}"`);
      expect(html, name).to.match(
        new RegExp(`<code>${name}</code></td>\\s*<td>[\\s\\S]*?</td>\\s*<td>${value}[ <]`),
      );
    }
    expect(html).to.include("<code>HL7_LIMIT</code>");
  });

  it("bad input (not text, not a structure): HL7_BAD_INPUT", async () => {
    await load();
    for (const payload of [42, null, { segments: "x" }]) {
      const caught = receive("caught");
      helper.getNode("parse").receive({ payload } as any);
      const [c] = await caught;
      expect(c.hl7.error.code, JSON.stringify(payload)).to.equal("HL7_BAD_INPUT");
    }
  });

  it("validate: checks data types against the version's dictionary", async () => {
    await load({ validate: true });
    const caught = receive("caught");
    const text = "MSH|^~\\&|A|B|C|D|20240101120000||ADT^A01|V-1|P|2.5.1\rPID|1||X||Doe||19801345x|F\r";
    helper.getNode("parse").receive({ payload: text } as any);
    const [c] = await caught;
    expect(c.hl7.error).to.include({ code: "HL7_PARSE", segment: "PID", field: 7, hl7ErrorCode: 102 });
  });

  it("runs the shipped example (examples/Parse and build HL7 v2 messages.json)", async () => {
    const example = JSON.parse(
      readFileSync(join(ROOT, "examples", "Parse and build HL7 v2 messages.json"), "utf8"),
    ) as any[];
    const z = example[0].z as string;
    const nodes = example.map((n) => (n.type === "debug" ? { id: n.id, type: "helper", z } : { ...n }));
    await helper.load(
      [hl7ParseNode, injectNode, changeNode, commentNode] as any,
      [{ id: z, type: "tab", label: "example" }, ...nodes] as any,
    );
    const byName = (name: string): string => example.find((n) => n.type === "debug" && n.name === name).id;
    const structure = receive(byName("structure"));
    const text = receive(byName("text"));
    const parts = receive(byName("one msg per message"), 2);
    const failed = receive(byName("HL7_PARSE"));
    for (const inject of example.filter((n) => n.type === "inject")) helper.getNode(inject.id).receive({});
    const [s1] = await structure;
    expect(s1.payload.segments[2][5][0][0]).to.equal("O^Neil");
    expect(s1.topic).to.equal("ADT^A04");
    const [t1] = await text;
    expect(t1.payload.split("\r")[2]).to.match(
      /^PID\|1\|\|MRN-4411\^\^\^NORTH-MRN\^MR\|\|Smith\\F\\Jones\^Mary/,
    );
    const batch = await parts;
    expect(batch.map((m) => m.hl7.controlId)).to.deep.equal(["B-1", "B-2"]);
    const [f] = await failed;
    expect(f.hl7.error).to.include({ code: "HL7_PARSE", field: 10 });
  });

  it("keeps Z-segments and segments HL7 does not define: byte for byte back, and on msg.hl7.segments", async () => {
    // Escapes, empty trailing fields, repetitions, odd components: as a site writes them.
    const zpi = "ZPI|1|VIP\\T\\Gold~Silver|A^^B&C\\E\\||";
    const xyz = "XY1|foo^bar|||";
    const text =
      [
        "MSH|^~\\&|PMS|CLINIC|EHR|HB|20240301091500||ADT^A01^ADT_A01|Z-1|P|2.5.1",
        "EVN|A01|20240301091500",
        "PID|1||123^^^CLINIC^MR||Doe^Jane",
        zpi,
        "PV1|1|O",
        xyz,
        "ZZ9|",
      ].join("\r") + "\r";
    await load({}, [
      { id: "back", z: TAB, type: "hl7-parse", wires: [["out2"]] },
      { id: "out2", z: TAB, type: "helper" },
    ]);
    const got = receive("out");
    helper.getNode("parse").receive({ payload: text });
    const [m] = await got;
    const segs = m.hl7.segments as Array<{ id: string; position: number; text: string; fields: unknown[] }>;
    expect(segs.map((s) => [s.id, s.position, s.text])).to.deep.equal([
      ["ZPI", 4, zpi],
      ["XY1", 6, xyz],
      ["ZZ9", 7, "ZZ9|"],
    ]);
    expect(segs[0].fields).to.deep.equal(m.payload.segments[3]);
    expect(segs[0].fields[2]).to.deep.equal(["VIP&Gold", "Silver"]);
    // structure -> text: the same bytes, and the segments still listed
    const back = receive("out2");
    helper.getNode("back").receive({ payload: m.payload, hl7: m.hl7 });
    const [b] = await back;
    expect(b.payload).to.equal(text);
    expect(b.hl7.segments.map((s: { text: string }) => s.text)).to.deep.equal([zpi, xyz, "ZZ9|"]);
    // a message without any: no msg.hl7.segments, even when the msg carried one
    const plain = receive("out");
    helper.getNode("parse").receive({ payload: fixture("adt-a01-v2.5.1.hl7"), hl7: { segments: segs } });
    const [p] = await plain;
    expect(p.hl7).to.not.have.property("segments");
  });
});
