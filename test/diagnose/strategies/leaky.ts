// A strategy whose prompt differs from naive's and whose SQL carries a literal and a parameter
// that must never appear in a diagnosis without --show-content.
interface Turn {
  messageId: string;
}
interface Db {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export default {
  name: 'leaky',
  async build(db: Db, turn: Turn): Promise<string> {
    const { rows } = await db.query(`select content, 'LITERAL-7f3a' as tag from messages where id = $1 and $2::text <> 'x'`, [
      turn.messageId,
      'PARAM-9c1e',
    ]);
    return `## QUESTION\n${String(rows[0]?.content ?? '')}\n`;
  },
};
