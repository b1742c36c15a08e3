import { isWebhookScheme } from "../../lib/webhook/schemes";
import { mulberry32 } from "./data";
import { startPmsSimulator, type PmsSimulator, type WebhookTarget } from "./server";

/**
 * `node dist/sandbox/pms/main.js`: the PMS simulator configured from the environment.
 *   PORT (default 8082), HOST (127.0.0.1), PMS_API_KEY, PMS_API_SECRET (required), PMS_SEED,
 *   PMS_PATIENTS, PMS_APPOINTMENTS, WEBHOOK_URL, WEBHOOK_SCHEME (pms-hmac), WEBHOOK_SECRET,
 *   EMIT_EVERY_MS (a random change with its webhook at that interval; 0 = none).
 */

function int(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number`);
  return Number(raw);
}

function webhookFromEnv(): WebhookTarget | undefined {
  const url = process.env.WEBHOOK_URL;
  if (!url) return undefined;
  const scheme = process.env.WEBHOOK_SCHEME || "pms-hmac";
  if (!isWebhookScheme(scheme))
    throw new Error(`WEBHOOK_SCHEME must be pms-hmac, standard-webhooks, stripe or github`);
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new Error("WEBHOOK_SECRET is required with WEBHOOK_URL");
  return { url, scheme, secret };
}

/** One random, plausible change: a new phone number, a completed or cancelled visit, a new patient. */
export async function randomChange(sim: PmsSimulator, random: () => number): Promise<string> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const roll = random();
  if (roll < 0.5 || sim.data.appointments.length === 0) {
    const patient = pick(sim.data.patients);
    const phone = `(555) ${String(100 + Math.floor(random() * 900))}-${String(1000 + Math.floor(random() * 9000))}`;
    await sim.updatePatient(patient.id, { phone });
    return "patient.updated";
  }
  const open = sim.data.appointments.filter((a) =>
    (["scheduled", "confirmed", "arrived", "checked_in"] as readonly string[]).includes(a.status),
  );
  if (roll < 0.8 && open.length > 0) {
    await sim.completeAppointment(pick(open).id);
    return "appointment.completed";
  }
  if (roll < 0.9 && open.length > 0) {
    await sim.cancelAppointment(pick(open).id);
    return "appointment.cancelled";
  }
  const template = pick(sim.data.patients);
  await sim.createPatient({
    firstName: pick(["Zoë", "Seán", "Renée", "Ngọc", "Mary-Kate"]),
    lastName: pick(["O'Connor", "Nguyễn", "D'Souza", "Müller"]),
    dateOfBirth: template.dateOfBirth,
    gender: pick(["F", "male", "unknown"]),
  });
  return "patient.created";
}

async function main(): Promise<void> {
  const apiKey = process.env.PMS_API_KEY;
  const apiSecret = process.env.PMS_API_SECRET;
  if (!apiKey || !apiSecret) throw new Error("PMS_API_KEY and PMS_API_SECRET are required");
  const seed = int("PMS_SEED", 1);
  const sim = await startPmsSimulator({
    port: int("PORT", 8082),
    host: process.env.HOST || "127.0.0.1",
    apiKey,
    apiSecret,
    seed,
    patients: int("PMS_PATIENTS", 200),
    appointments: int("PMS_APPOINTMENTS", 500),
    webhook: webhookFromEnv(),
  });
  console.log(
    `PMS simulator on ${sim.url} (${sim.data.patients.length} patients, ${sim.data.appointments.length} appointments)`,
  );
  const every = int("EMIT_EVERY_MS", 0);
  let timer: NodeJS.Timeout | undefined;
  if (every > 0) {
    const random = mulberry32(seed + 1);
    let busy = false;
    timer = setInterval(() => {
      if (busy) return;
      busy = true;
      randomChange(sim, random)
        .then((event) => console.log(`emitted ${event}`))
        .catch((err: unknown) => console.error(`change failed: ${(err as Error).message}`))
        .finally(() => (busy = false));
    }, every);
  }
  const stop = (): void => {
    if (timer) clearInterval(timer);
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}
