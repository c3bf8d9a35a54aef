/**
 * The conference store contract on every backend: SQLite on a file (writer thread and inline),
 * SQLite in memory, and PostgreSQL (started for this file by `startPostgres`, installed by
 * scripts/install-services).
 */
import { onEveryBackend } from '../support/backends.ts';
import { conferencesContract } from './conferences-contract.ts';

onEveryBackend('conferences', conferencesContract);
