import { parentPort } from "node:worker_threads";
import { loadFhirDefinitions } from "./schema";
import type { JudgeItem, JudgeReply, JudgeRequest } from "./validation";
import { judgeEach } from "./validation";

/** A ValidationPool worker: loads the R4 definitions, then judges what it is sent. */
loadFhirDefinitions();
const port = parentPort!;
port.on("message", ({ seq, text }: JudgeRequest) => {
  const reply: JudgeReply = {
    seq,
    verdicts: judgeEach(JSON.parse(text) as JudgeItem[]),
  };
  port.postMessage(reply);
});
port.postMessage("ready");
