/**
 * naive — the help-desk context as an ORM with lazy relations builds it: the ticket, then its
 * customer, then its assignee, then the thread, then each comment's author one query at a
 * time (N+1). `SELECT *` everywhere, through knex.
 */
import { defineStrategy } from 'ctxbench';
import { AT, THREAD_COMMENTS, ticketTurn, type TicketContext } from './ticket-context.js';

type Row = Record<string, any>;

export default defineStrategy({
  name: 'naive',
  description: 'ticket, customer, assignee, thread, then one query per comment author',
  async build({ knex, section }, turn: unknown): Promise<TicketContext> {
    const { ticketId } = ticketTurn(turn);
    const { ticket, customer, assignee } = await section('ticket', async () => {
      const ticket: Row | undefined = await knex('tickets')
        .where({ id: ticketId })
        .first('*', knex.raw(`to_char(created_at at time zone 'UTC', ${AT}) as opened_at`));
      if (ticket === undefined) throw new Error(`ticket ${ticketId} not found`);
      const customer: Row = await knex('customers').where({ id: ticket.customer_id }).first();
      const assignee: Row | undefined =
        ticket.assignee_id === null ? undefined : await knex('agents').where({ id: ticket.assignee_id }).first();
      return { ticket, customer, assignee };
    });

    const thread = await section('thread', async () => {
      const comments: Row[] = await knex('comments')
        .where({ ticket_id: ticket.id })
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(THREAD_COMMENTS)
        .select('*', knex.raw(`to_char(created_at at time zone 'UTC', ${AT}) as at`));
      const lines: TicketContext['thread'] = [];
      for (const c of comments.reverse()) {
        // comment.author: one query per comment.
        const author: Row =
          c.author_agent_id !== null
            ? await knex('agents').where({ id: c.author_agent_id }).first()
            : await knex('customers').where({ id: c.author_customer_id }).first();
        lines.push({
          author: author.name,
          role: c.author_agent_id !== null ? 'agent' : 'customer',
          internal: c.is_internal,
          at: c.at,
          body: c.body,
        });
      }
      return lines;
    });

    return {
      ticket: {
        id: ticket.id,
        subject: ticket.subject,
        status: ticket.status,
        priority: ticket.priority,
        openedAt: ticket.opened_at,
      },
      customer: { name: customer.name, plan: customer.plan, company: customer.company },
      assignee: assignee === undefined ? null : { name: assignee.name, team: assignee.team },
      thread,
    };
  },
});
