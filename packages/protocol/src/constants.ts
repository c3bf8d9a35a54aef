/**
 * The protocol's constants only — error and close codes, conversation, message, notification
 * and event kind codes —
 * with no schema library behind them, for small client bundles.
 */
export * from './errors.ts';
export * from './conversation.ts';
export * from './message-types.ts';
export * from './notification-kinds.ts';
export * from './content-depth.ts';
