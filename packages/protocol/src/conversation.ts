/**
 * Conversation ("session") type codes and the rules that derive a conversation's id.
 *
 * The codes and id rules are those of the family-doctor IM server's `sessions.type`:
 * integrators that computed ids by those rules keep computing the same ids. The rules live
 * here, in one place, so the server and the SDK derive the same id.
 */
export const ConversationTypes = {
  /** System conversation. Id: hash of the participants' ids. */
  SYSTEM: 0,
  /** A patient's family-doctor / "three doctors" consultation. Id: `patient_team_consultType`. */
  PATIENT_TEAM: 1,
  /** One-to-one (patient ↔ renowned doctor, doctor ↔ doctor). Id: hash of the participants' ids. */
  P2P: 2,
  /** Administrative team chat. Id: the team's id. */
  TEAM: 3,
  /** Temporary discussion group (superseded by 5). Id: generated. */
  DISCUSSION: 4,
  /** Specialist + family doctor fixed group. Id: `patient_specialistTeam`. */
  SPECIALIST_GROUP: 5,
  /** Patient-initiated renowned-doctor consultation (rarely used). Id: given. */
  PATIENT_EXPERT: 6,
  /** Doctor-initiated renowned-doctor consultation (deprecated). Id: given. */
  DOCTOR_EXPERT: 7,
  /** Prescription renewal consultation. Id: `patient_consult_consultType`. */
  RENEWAL: 8,
  /** Hospital online follow-up visit. Id: `patient_consult_consultType`. */
  ONLINE_REVISIT: 9,
  /** Doctor's request for help (rarely used). Id: `patient_consult_consultType`. */
  DOCTOR_HELP: 10,
  /** Home nursing. Id: `patient_consult_consultType`. */
  HOME_NURSING: 11,
  /** Waiting-room group chat. Id: `room_consult_consultType`. */
  WAITING_ROOM: 12,
} as const;

export type ConversationType = (typeof ConversationTypes)[keyof typeof ConversationTypes];

export function isConversationType(n: number): n is ConversationType {
  return Number.isInteger(n) && n >= 0 && n <= 12;
}

/** `business_type`: whether the conversation includes a patient. */
export const BusinessTypes = { NO_PATIENT: 1, WITH_PATIENT: 2 } as const;
export type BusinessType = (typeof BusinessTypes)[keyof typeof BusinessTypes];

