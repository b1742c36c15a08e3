import type { Hl7SegmentJson, ParsedHl7 } from "./message";

/**
 * The segment IDs HL7 v2.1-2.8 define (from the dictionaries of `hl7v2-dictionary` 1.8.0, every
 * version together): kept here so that telling a standard segment from another costs no
 * dictionary load.
 */
export const STANDARD_SEGMENT_IDS: ReadonlySet<string> = new Set(
  (
    "ABS ACC ADD ADJ AFF AIG AIL AIP AIS AL1 APR ARQ ARV AUT BHS BLC BLG BPO BPX BTS " +
    "BTX CDM CER CM0 CM1 CM2 CNS CON CSP CSR CSS CTD CTI DB1 DG1 DMI DRG DSC DSP ECD " +
    "ECR EDU EQL EQP EQU ERQ ERR EVN FAC FHS FT1 FTS GOL GP1 GP2 GT1 IAM IAR IIM ILT " +
    "IN1 IN2 IN3 INV IPC IPR ISD ITM IVC IVT LAN LCC LCH LDP LOC LRL MFA MFE MFI MRG " +
    "MSA MSH NCK NDS NK1 NPU NSC NST NTE OBR OBX ODS ODT OM1 OM2 OM3 OM4 OM5 OM6 OM7 " +
    "ORC ORG ORO OVR PAC PCE PCR PD1 PDA PDC PEO PES PID PKG PMT PR1 PRA PRB PRC PRD " +
    "PRT PSG PSH PSL PSS PTH PV1 PV2 PYE QAK QCK QID QPD QRD QRF QRI RCP RDF RDT REL " +
    "RF1 RFI RGS RMI ROL RQ1 RQD RX1 RXA RXC RXD RXE RXG RXO RXR SAC SCD SCH SCP SDD " +
    "SFT SHP SID SLT SPM SPR STF STZ TCC TCD TQ1 TQ2 TXA UAC UB1 UB2 URD URS VAR VND " +
    "VTQ"
  ).split(" "),
);

/** A Z-segment, or a segment HL7 does not define, as received. */
export interface SiteSegment {
  /** Segment ID, e.g. "ZPI". */
  id: string;
  /** 1-based position in the message (MSH is 1). */
  position: number;
  /** The segment as received, without its CR: written back as it is, byte for byte. */
  text: string;
  /** Its structure, as in `msg.payload.segments` of hl7-parse (values unescaped). */
  fields: Hl7SegmentJson;
}

/**
 * The Z-segments (site-defined, IDs starting with Z) and the segments no HL7 version defines,
 * in message order: what a converter that knows the standard segments would leave behind.
 */
export function siteSegments(p: ParsedHl7): SiteSegment[] {
  const out: SiteSegment[] = [];
  let lines: string[] | undefined;
  for (const s of p.segments) {
    if (!s.name.startsWith("Z") && STANDARD_SEGMENT_IDS.has(s.name)) continue;
    lines ??= p.text.split("\r");
    const data = s.data;
    out.push({
      id: s.name,
      position: s.position,
      text: lines[s.position - 1] ?? "",
      fields: JSON.parse(JSON.stringify(data)) as Hl7SegmentJson,
    });
  }
  return out;
}
