/**
 * A process that appends messages to an SQLite file through the writer thread until it is
 * killed (`search-behind.test.ts` kills it with SIGKILL). Prints `appended N` after each
 * committed batch.
 *
 *   node search-behind-writer.ts DB_PATH START_N
 */
import { createSqliteStorage } from '../../src/storage/sqlite/index.ts';

const [path, start] = process.argv.slice(2);
const s = createSqliteStorage({ path: path!, synchronous: 'FULL', writer: 'worker' });
let n = Number(start);
for (;;) {
  const batch = Array.from({ length: 20 }, (_, i) => {
    const k = n + i;
    const content = { text: `note ${k} rash-${k % 7}` };
    return {
      tenant_id: 't', conversation_id: `c${k % 5}`, id: `01K${String(k).padStart(23, '0')}`, sender_id: 'u', type: k % 10 === 9 ? 10 : 1,
      content, content_json: JSON.stringify(content), client_id: `k${k}`, created_at: 1_000_000 + k, forward: null,
    };
  });
  await s.messages.append(batch);
  n += batch.length;
  process.stdout.write(`appended ${n}\n`);
}
