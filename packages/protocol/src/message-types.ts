/**
 * Message type codes (no schemas, no dependencies). The content schema of each type is in
 * `content.ts`; see there for where the codes come from.
 */
export const MessageTypes = {
  SYSTEM: 0,
  TEXT: 1,
  IMAGE: 2,
  VOICE: 3,
  ARTICLE: 4,
  JUMP: 5,
  TOPIC_START: 6,
  TOPIC_END: 7,
  FORWARDED_TEXT: 8,
  FORWARDED_IMAGE: 9,
  TOPIC_END_NOTICE: 10,
  RESERVED_11: 11,
  VIDEO: 12,
  RESERVED_13: 13,
  TOPIC_ENTER: 14,
  RENEWAL_REVIEW: 15,
  RENEWAL_VITALS: 16,
  RENEWAL_FOLLOWUP: 17,
  PERSONAL_CARD: 18,
  FORWARD: 19,
  REHAB_PLAN: 20,
  REFERRAL_PENDING: 21,
  ACKNOWLEDGED: 22,
  REVISIT_NOTE: 23,
  DIAGNOSIS: 24,
  CONDITION: 25,
  EXPERT_ADVICE: 26,
  HOME_CARE_ORDER_CARD: 2102,
  HOME_CARE_ORDER_DOCTOR: 2103,
  HOME_CARE_ORDER_ITEMS: 2104,
  FILE: 1000,
  LINK: 1001,
  CALL: 1002,
  CUSTOM: 1100,
} as const;

export type MessageType = (typeof MessageTypes)[keyof typeof MessageTypes];
