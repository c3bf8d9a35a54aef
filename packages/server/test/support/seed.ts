/** Fast test setup straight in the SQLite file (for volumes the API would take long to write). */
import Database from 'better-sqlite3';

/** Writes `n` text messages straight into the SQLite file (fast test setup), as if sent by `sender`. */
export function insertMessages(dbPath: string, tenantId: string, conv: string, sender: string, n: number, text: string): void {
  const db = new Database(dbPath, { fileMustExist: true, timeout: 5000 });
  try {
    const now = Date.now();
    const insert = db.prepare(`INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_id, type, content, client_id, created_at, recalled_at, forward)
      VALUES (?, ?, ?, ?, ?, 1, ?, NULL, ?, NULL, NULL)`);
    const content = JSON.stringify({ text });
    db.transaction(() => {
      for (let seq = 1; seq <= n; seq++) insert.run(tenantId, conv, seq, `seed-${conv}-${seq}`, sender, content, now);
      db.prepare('UPDATE conversations SET last_seq = ?, last_message_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?').run(n, now, now, tenantId, conv);
    })();
  } finally {
    db.close();
  }
}
