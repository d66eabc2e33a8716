/**
 * Which turns to replay: every customer message of the chosen conversations, oldest first.
 */
import type { Knex } from 'knex';
import { UsageError } from './errors.js';
import type { Turn } from './types.js';

/**
 * Lists the turns of `conversationIds` (in the order given), using ctxbench's own unmeasured
 * connection. Unknown conversations are a usage error naming every one of them.
 *
 * @example
 * const turns = await listTurns(session.control, ['fa-shop-1']);
 */
export async function listTurns(control: Knex, conversationIds: readonly string[]): Promise<Turn[]> {
  if (conversationIds.length === 0) throw new UsageError('--conversation: no conversations to replay');
  const ids = [...conversationIds];
  const found = await control.raw(
    `select c.id, count(m.id) filter (where m.type = 'customer') as turns
       from conversations c left join messages m on m.conversation_id = c.id
      where c.id = any(?) group by c.id`,
    [ids],
  );
  const known = new Map<string, number>(found.rows.map((r: { id: string; turns: string }) => [r.id, Number(r.turns)]));
  const problems = ids
    .filter((id) => !known.has(id))
    .map((id) => `--conversation: no conversation "${id}" in this database`);
  problems.push(
    ...ids.filter((id) => known.get(id) === 0).map((id) => `--conversation: conversation "${id}" has no customer messages to replay`),
  );
  if (problems.length > 0) throw new UsageError(problems);
  const result = await control.raw(
    `select c.user_id::text as tenant_id, m.conversation_id, m.id, m.created_at::text as as_of
       from messages m join conversations c on c.id = m.conversation_id
      where m.conversation_id = any(?) and m.type = 'customer'
      order by array_position(?::text[], m.conversation_id::text), m.created_at, m.id collate "C"`,
    [ids, ids],
  );
  return result.rows.map((r: { tenant_id: string; conversation_id: string; id: string; as_of: string }) => ({
    tenantId: r.tenant_id,
    conversationId: r.conversation_id,
    messageId: r.id,
    asOf: r.as_of,
  }));
}

/**
 * Every conversation of the database that has a customer message to replay, ordered by id
 * in byte order (`--conversation all`): the same list on any machine for the same data.
 *
 * @example
 * const ids = await allConversationIds(session.control);
 */
export async function allConversationIds(control: Knex): Promise<string[]> {
  const { rows } = await control.raw(
    `select c.id from conversations c
      where exists (select 1 from messages m where m.conversation_id = c.id and m.type = 'customer')
      order by c.id collate "C"`,
  );
  if (rows.length === 0) throw new UsageError('--conversation all: the database has no conversation with customer messages');
  return rows.map((r: { id: string }) => r.id);
}
