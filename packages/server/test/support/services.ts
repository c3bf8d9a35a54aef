/**
 * PostgreSQL, Redis and HAProxy for tests: the processes of `scripts/lib/services.ts` (shared
 * with `npm run cluster`), each started on loopback on a free port in its own temp dir and
 * stopped by process id. See that file for what each starts and how.
 */
export {
  INSTALL_SCRIPT,
  locateHaproxy,
  locatePostgres,
  locateRedis,
  startHaproxy,
  startPostgres,
  startRedis,
  type HaproxyOptions,
  type HaproxyService,
  type PostgresBinaries,
  type PostgresOptions,
  type Service,
} from '../../../../scripts/lib/services.ts';
export { startS3, type S3Service } from './s3.ts';
