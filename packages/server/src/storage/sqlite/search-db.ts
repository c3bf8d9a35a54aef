/**
 * The SQLite search index's own database file (`<database>-search`), attached as `search` to
 * the connections that read or write it. It holds only what can be derived again from the
 * main database: the FTS5 index of the messages' text (`message_search`, trigram tokenizer,
 * as described in migration 013), the keys that map its rows to messages
 * (`message_search_keys`), how far each conversation is indexed (`message_search_cursors`),
 * and the last edit applied (`message_search_state`). Those move together, in the indexer's
 * transactions (`search-indexer.ts`), so after a crash the index resumes where its last commit
 * left it.
 *
 * Apart from the main database so that its writes (a step's FTS5 segment, the segments'
 * merges, their WAL and its checkpoints) run on another thread without holding the appends'
 * write lock. Commits here are `synchronous = NORMAL` (no fsync each): a power loss can only
 * take the last steps, which are made again. A missing or unreadable file, or one of another
 * format, is made anew and filled from the messages; operators need not back it up.
 *
 * Unqualified names resolve to it (the main database has no tables of these names), so the
 * search statements read as before.
 */
import { existsSync, rmSync } from 'node:fs';
import { isPrivateDb, type Db } from './db.ts';

/** The format of the search file: another one is dropped and built again. */
const FORMAT = 1;

/** The search file of the database at `path` (a private database gets a private one). */
export function searchDbPath(path: string): string {
  return isPrivateDb(path) ? ':memory:' : `${path}-search`;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS search.message_search_keys (
  id               INTEGER PRIMARY KEY,
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  seq              INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS search.message_search_keys_message ON message_search_keys (tenant_id, conversation_id, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS search.message_search USING fts5(body, tokenize = 'trigram');
CREATE VIRTUAL TABLE IF NOT EXISTS search.message_search_vocab USING fts5vocab(message_search, 'row');
CREATE TABLE IF NOT EXISTS search.message_search_cursors (
  tenant_id        TEXT NOT NULL,
  conversation_id  TEXT NOT NULL,
  indexed_seq      INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, conversation_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search.message_search_state (
  name   TEXT PRIMARY KEY,
  value  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO search.message_search_state (name, value) VALUES ('applied_change', 0);
`;

/**
 * Attaches the search file to `db` as `search`, creating it (or making it anew, when it is of
 * another format or unreadable). The connection that creates it first is the main thread's,
 * before any other opens it.
 */
export function attachSearch(db: Db, mainPath: string): void {
  const path = searchDbPath(mainPath);
  const attach = () => db.prepare('ATTACH DATABASE ? AS search').run(path);
  try {
    attach();
    prepare(db);
  } catch (err) {
    if (path === ':memory:') throw err;
    // Not a database (or damaged): it is derived data, so it is made again.
    if ((db.prepare("SELECT count(*) FROM pragma_database_list WHERE name = 'search'").pluck().get() as number) > 0) db.exec('DETACH DATABASE search');
    for (const suffix of ['', '-wal', '-shm']) if (existsSync(path + suffix)) rmSync(path + suffix);
    attach();
    prepare(db);
  }
}

function prepare(db: Db): void {
  const version = db.pragma('search.user_version', { simple: true }) as number;
  if (version !== 0 && version !== FORMAT) {
    for (const t of ['message_search_vocab', 'message_search', 'message_search_keys', 'message_search_cursors', 'message_search_state']) db.exec(`DROP TABLE IF EXISTS search.${t}`);
  }
  db.pragma('search.journal_mode = WAL');
  db.pragma('search.synchronous = NORMAL');
  db.exec(SCHEMA);
  db.pragma(`search.user_version = ${FORMAT}`);
}
