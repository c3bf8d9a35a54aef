export { startServer, type CarelineServer, type StartOptions } from './server.ts';
export { loadConfig, ConfigError, type LoadedConfig } from './config/load.ts';
export { ConfigSchema, type Config } from './config/schema.ts';
export { createCore, type Core } from './core.ts';
export { AppError } from './domain/errors.ts';
