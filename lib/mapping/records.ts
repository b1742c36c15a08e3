/**
 * Record shapes of the sandbox practice management system (PMS), as its API returns them
 * and as the built-in mapping sets read and write them. `toPms` leaves a missing optional
 * field out of the record; on input, `null` and `""` count as missing too.
 */

export interface PmsAddress {
  street?: string;
  city?: string;
  /** Two-letter US state code. */
  state?: string;
  zipCode?: string;
}

export interface PmsPatient {
  id: string;
  firstName: string;
  lastName: string;
  /** Calendar date `YYYY-MM-DD`. */
  dateOfBirth: string;
  /**
   * As the PMS spells it: M, male, F, female, f, other, unknown, ... The canonical form
   * (what `toPms` writes) is one of M, F, O, U.
   */
  gender?: string;
  phone?: string;
  email?: string;
  address?: PmsAddress;
  /** ISO 8601 instant of the last change, e.g. `2025-01-06T08:00:00.000Z`. */
  updatedAt: string;
}

export const PMS_APPOINTMENT_STATUSES = [
  "scheduled",
  "confirmed",
  "completed",
  "cancelled",
  "no_show",
  "arrived",
  "checked_in",
] as const;

export type PmsAppointmentStatus = (typeof PMS_APPOINTMENT_STATUSES)[number];

export interface PmsAppointment {
  id: string;
  patientId: string;
  providerId: string;
  /** Local clinic time with its UTC offset, e.g. `2025-01-06T09:30:00-05:00`. */
  scheduledTime: string;
  /** Minutes. */
  duration: number;
  status: PmsAppointmentStatus;
  reason?: string;
  updatedAt: string;
}

export interface PmsProvider {
  id: string;
  firstName: string;
  lastName: string;
}
