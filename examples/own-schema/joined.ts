/**
 * joined — the same help-desk context in two statements: the ticket joined to its customer
 * and assignee, and the thread joined to each comment's author. Only the columns the context
 * uses; raw SQL through `db.query`.
 */
import { defineStrategy } from 'ctxbench';
import { AT, THREAD_COMMENTS, ticketTurn, type TicketContext } from './ticket-context.js';

const TICKET_SQL = `
select t.id, t.subject, t.status, t.priority, to_char(t.created_at at time zone 'UTC', ${AT}) as opened_at,
       c.name as customer_name, c.plan, c.company,
       a.id as agent_id, a.name as agent_name, a.team
from tickets t
join customers c on c.id = t.customer_id
left join agents a on a.id = t.assignee_id
where t.id = $1`;

// The newest comments (created_at desc, id desc), put back in thread order, oldest first.
const THREAD_SQL = `
select author, by_agent, is_internal, body, at
from (
  select coalesce(a.name, c.name) as author, a.id is not null as by_agent, m.is_internal, m.body,
         to_char(m.created_at at time zone 'UTC', ${AT}) as at, m.created_at, m.id
  from comments m
  left join agents a on a.id = m.author_agent_id
  left join customers c on c.id = m.author_customer_id
  where m.ticket_id = $1
  order by m.created_at desc, m.id desc
  limit ${THREAD_COMMENTS}
) latest
order by created_at, id`;

export default defineStrategy({
  name: 'joined',
  description: 'two statements: ticket + customer + assignee, thread + authors',
  async build(db, turn: unknown): Promise<TicketContext> {
    const { ticketId } = ticketTurn(turn);
    const t = await db.section('ticket', async () => (await db.query(TICKET_SQL, [ticketId])).rows[0]);
    if (t === undefined) throw new Error(`ticket ${ticketId} not found`);
    const thread = await db.section('thread', async () => (await db.query(THREAD_SQL, [ticketId])).rows);
    return {
      ticket: {
        id: t.id as number,
        subject: t.subject as string,
        status: t.status as string,
        priority: t.priority as string,
        openedAt: t.opened_at as string,
      },
      customer: { name: t.customer_name as string, plan: t.plan as string, company: t.company as string | null },
      assignee: t.agent_id === null ? null : { name: t.agent_name as string, team: t.team as string },
      thread: thread.map((m) => ({
        author: m.author as string,
        role: m.by_agent ? 'agent' : 'customer',
        internal: m.is_internal as boolean,
        at: m.at as string,
        body: m.body as string,
      })),
    };
  },
});
