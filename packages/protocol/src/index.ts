export * from './errors.ts';
export * from './content.ts';
export * from './conversation.ts';
export * from './models.ts';
export * from './frames.ts';
export * from './notification-kinds.ts';
export * from './notifications.ts';
export * from './devices.ts';
