/**
 * The `careline` command: one entry for running and operating the server. Each subcommand
 * has its own `--help`; arguments are parsed with node:util's parseArgs (strict: an
 * unknown option is an error). Resolves with the process's exit code (`exit.ts`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, UsageError } from './exit.ts';

interface Command {
  summary: string;
  usage: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

const COMMON_HELP = `Configuration: IM_PROFILE (dev | test | prod; dev when unset) picks
packages/server/config/<profile>.json, and CARELINE_* env vars override it (docs/config.md
lists every setting and its env var).`;

const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'Run the server (what `npm start` does); --supervise restarts it when it crashes',
    usage: 'careline start [--supervise [--backoff-ms N] [--backoff-max-ms N] [--healthy-ms N]]',
    help: `Runs the server on the configured port and database until SIGINT or SIGTERM (a graceful
shutdown). With the dev profile it seeds the demo tenant and prints its users, tokens and
API key. Exits 70 when storage can no longer write, 78 on a bad configuration.

Options:
  --supervise          Run the server as a child process and start it again whenever it
                       exits abnormally (a crash, a signal it was not sent by the supervisor,
                       exit 70), after a delay that doubles from --backoff-ms up to
                       --backoff-max-ms and goes back to --backoff-ms once a server has run
                       for --healthy-ms. Each exit and restart is logged as a JSON line
                       (exit code or signal, uptime, delay). SIGTERM/SIGINT are passed on to
                       the server; the supervisor exits when the server has stopped. A server
                       that exits 0, or 78 (bad configuration), is not restarted.
  --backoff-ms N       First restart delay in milliseconds (default 1000)
  --backoff-max-ms N   Longest restart delay in milliseconds (default 30000)
  --healthy-ms N       Running this long (ms) resets the delay (default 60000)
  -h, --help           This help`,
    run: async (argv) => {
      const { values } = parse('start', argv, {
        supervise: { type: 'boolean' },
        'backoff-ms': { type: 'string' },
        'backoff-max-ms': { type: 'string' },
        'healthy-ms': { type: 'string' },
      }, 0);
      const tuning = { backoffMs: 'backoff-ms', backoffMaxMs: 'backoff-max-ms', healthyMs: 'healthy-ms' } as const;
      const opts: { backoffMs?: number; backoffMaxMs?: number; healthyMs?: number } = {};
      for (const [key, flag] of Object.entries(tuning) as [keyof typeof tuning, string][]) {
        const raw = (values as Record<string, string | boolean | undefined>)[flag] as string | undefined;
        if (raw === undefined) continue;
        if (!values.supervise) throw new UsageError('start', `--${flag} applies only with --supervise`);
        if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 86_400_000) throw new UsageError('start', `--${flag} must be a whole number of milliseconds (1 to 86400000), not "${raw}"`);
        opts[key] = Number(raw);
      }
      if (values.supervise) {
        const { supervise } = await import('./supervise.ts');
        return supervise(opts);
      }
      const { serve } = await import('./serve.ts');
      return serve();
    },
  },
  checkconfig: {
    summary: 'Validate the profile and env vars without starting; print the effective config',
    usage: 'careline checkconfig',
    help: `Loads the configuration exactly as \`careline start\` would and stops there. Valid: prints
the effective configuration (profile file, env vars and defaults merged) as JSON with every
secret masked, and exits 0. Invalid: names every bad setting with its env var on stderr and
exits 78 (in prod, also the secrets still at their development defaults).

Options:
  -h, --help   This help`,
    run: async (argv) => {
      parse('checkconfig', argv, {}, 0);
      const { checkconfig } = await import('./ops.ts');
      return checkconfig();
    },
  },
  migrate: {
    summary: 'Apply the database migrations to the configured database and say which ran',
    usage: 'careline migrate',
    help: `Opens the configured database — the SQLite file (storage.sqlitePath,
CARELINE_STORAGE_SQLITE_PATH; created if missing), or PostgreSQL with storage.driver postgres
(storage.postgresUrl; under an advisory lock, so nodes starting meanwhile wait) — and applies every migration it has not had yet, each in its own
transaction, in order; prints each one applied, or that the database is up to date.
\`careline start\` does the same on start; this runs it alone (before a deploy, say).

Options:
  -h, --help   This help`,
    run: async (argv) => {
      parse('migrate', argv, {}, 0);
      const { migrateCommand } = await import('./ops.ts');
      return migrateCommand();
    },
  },
  'create-tenant': {
    summary: 'Create a tenant in the configured database',
    usage: 'careline create-tenant <id> <name>',
    help: `Creates the tenant <id> (1-64 of A-Z a-z 0-9 _ . -) named <name>, as
POST /api/v2/admin/tenants does, directly in the configured database (the server may be
running). Exits 1 with tenant.exists if the id is taken.

Options:
  -h, --help   This help`,
    run: async (argv) => {
      const { positionals } = parse('create-tenant', argv, {}, 2);
      const { createTenantCommand } = await import('./ops.ts');
      return createTenantCommand(positionals[0]!, positionals[1]!);
    },
  },
  'create-app': {
    summary: 'Create an app of a tenant and print its API key (shown once)',
    usage: 'careline create-app <tenant> <name> [--json]',
    help: `Creates an app named <name> for the tenant <tenant>, as POST /api/v2/admin/tenants/:id/apps
does, directly in the configured database (the server may be running), and prints its API
key. The key is stored only as a hash: this is the one time it is shown. Exits 1 with
tenant.not_found if there is no such tenant.

Options:
  --json       Print {"app": ..., "api_key": ...} instead of text
  -h, --help   This help`,
    run: async (argv) => {
      const { positionals, values } = parse('create-app', argv, { json: { type: 'boolean' } }, 2);
      const { createAppCommand } = await import('./ops.ts');
      return createAppCommand(positionals[0]!, positionals[1]!, { json: values.json === true });
    },
  },
  audit: {
    summary: 'Verify the audit trail\'s hash chain',
    usage: 'careline audit verify [--db <path>] [--tenant <id>] [--json]',
    help: 'Its own help: careline audit --help.',
    run: async (argv) => {
      const { auditCommand } = await import('./audit.ts');
      // Without --db, the configured database (storage.sqlitePath) is the one checked.
      if (argv.includes('--help') || argv.includes('-h') || argv.some((a) => a === '--db' || a.startsWith('--db='))) return auditCommand(argv);
      const { configuredDbPath } = await import('./ops.ts');
      const path = configuredDbPath('audit');
      return typeof path === 'number' ? path : auditCommand([...argv, '--db', path]);
    },
  },
};

/** Commands whose `--help` their own module answers (they parse their own arguments). */
const OWN_HELP = new Set<string>(['audit']);

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length), 'help [command]'.length) + 3;
  return `Usage: careline <command> [options]

Runs and operates a Careline server.

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`).join('\n')}
  ${'help [command]'.padEnd(width)}This help, or a command's (also: careline <command> --help)

${COMMON_HELP}

Exit codes: 0 done, 1 the operation failed (its error code is printed), 64 bad command
line, 70 storage can no longer write, 78 bad configuration.
`;
}

const commandHelp = (name: string, c: Command): string => `Usage: ${c.usage}\n\n${c.summary}.\n\n${c.help}\n\n${COMMON_HELP}\n`;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict parsing with `-h/--help`; exactly `count` positionals. `--help` short-circuits. */
function parse<O extends Options>(name: string, argv: string[], options: O, count: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(name, (err as Error).message);
    throw err;
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(name);
  if (parsed.positionals.length !== count) {
    const what = parsed.positionals.length < count ? 'missing arguments' : `unexpected argument "${parsed.positionals[count]}"`;
    throw new UsageError(name, what);
  }
  return parsed;
}

class HelpRequested extends Error {}

/** Runs `careline <argv>`; resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(`careline: a command is needed\n\n${mainHelp()}`);
    return EXIT.usage;
  }
  if (name === '-h' || name === '--help') {
    process.stdout.write(mainHelp());
    return EXIT.ok;
  }
  if (name === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      process.stdout.write(mainHelp());
      return EXIT.ok;
    }
    if (OWN_HELP.has(topic) && COMMANDS[topic]) return COMMANDS[topic].run(['--help']);
    const c = COMMANDS[topic];
    if (!c) return unknown(topic);
    process.stdout.write(commandHelp(topic, c));
    return EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) return unknown(name);
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(commandHelp(name, command));
      return EXIT.ok;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`careline ${name}: ${err.message}\nUsage: ${command.usage}\nRun "careline ${name} --help" for more.\n`);
      return EXIT.usage;
    }
    throw err;
  }
}

function unknown(name: string): number {
  const hint = name.startsWith('-') ? `unknown option "${name}"` : `unknown command "${name}"`;
  process.stderr.write(`careline: ${hint}; the commands are ${Object.keys(COMMANDS).join(', ')}. Run "careline --help" for more.\n`);
  return EXIT.usage;
}
