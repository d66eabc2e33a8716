// A user strategy, in TypeScript, that returns a prompt different from naive's.
interface Turn {
  messageId: string;
}
interface Db {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export default {
  name: 'different',
  async build(db: Db, turn: Turn): Promise<string> {
    const { rows } = await db.query('select content from messages where id = $1', [turn.messageId]);
    return `## QUESTION\n${String(rows[0]?.content ?? '')}\n`;
  },
};
