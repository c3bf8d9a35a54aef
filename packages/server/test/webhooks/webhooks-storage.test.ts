/**
 * The webhook and third-party app store contract on every backend: SQLite on a file (writer thread and inline),
 * SQLite in memory, and PostgreSQL (a server started for this file by `startPostgres`,
 * installed by scripts/install-services).
 */
import { onEveryBackend } from '../support/backends.ts';
import { webhooksContract } from './webhooks-contract.ts';

onEveryBackend('webhooks', webhooksContract);
