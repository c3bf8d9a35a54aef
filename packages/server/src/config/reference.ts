/** Prints the configuration reference (docs/config.md) generated from the schema. */
import { leaves } from './schema.ts';

const rows = leaves().map((l) => {
  const def = l.schema.default === undefined ? '' : JSON.stringify(l.schema.default);
  const type = (l.schema as { type?: string }).type ?? (l.schema as { anyOf?: { const: unknown }[] }).anyOf?.map((s) => JSON.stringify(s.const)).join(' \\| ') ?? '';
  return `| \`${l.path}\` | \`${l.env}\` | ${type} | \`${def}\` | ${l.schema.description ?? ''} |`;
});

process.stdout.write(`# Configuration reference

Generated from \`packages/server/src/config/schema.ts\` by \`npm run docs:config\`; do not edit by hand.

Precedence, lowest first: schema default ← profile file \`packages/server/config/<IM_PROFILE>.json\` ← environment variable.
\`IM_PROFILE\` is one of \`dev\` (default), \`test\`, \`prod\`; any other value refuses to start. The \`prod\` profile refuses to start
while \`auth.tokenSecret\` or \`auth.adminToken\` keep their defaults.

| setting | env var | type | default | meaning |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
`);
