/**
 * What both help-desk strategies return for one turn: the ticket an assistant is asked to
 * draft a reply for, and the latest comments of its thread. ctxbench compares the two
 * strategies' objects as canonical JSON, so they agree exactly when the objects do.
 */

/** One entry of turns.json, handed to `build` unchanged. */
export interface TicketTurn {
  id: string;
  ticketId: number;
}

/**
 * The turn `build` receives is whatever turns.json holds: check it once, at the boundary.
 * (`build`'s parameter is typed `unknown` here: `defineStrategy` types turns as the reference
 * schema's `Turn`, so it does not accept `build(db, turn: TicketTurn)`.)
 */
export function ticketTurn(turn: unknown): TicketTurn {
  const t = turn as Partial<TicketTurn> | null;
  if (typeof t?.ticketId !== 'number' || !Number.isInteger(t.ticketId)) {
    throw new Error(`expected a turn like { "id": "ticket-3", "ticketId": 3 }, got ${JSON.stringify(turn)}`);
  }
  return t as TicketTurn;
}

export interface TicketContext {
  ticket: { id: number; subject: string; status: string; priority: string; openedAt: string };
  customer: { name: string; plan: string; company: string | null };
  /** null while the ticket is unassigned. */
  assignee: { name: string; team: string } | null;
  /** The latest THREAD_COMMENTS comments, oldest first (ties on created_at broken by id). */
  thread: { author: string; role: 'agent' | 'customer'; internal: boolean; at: string; body: string }[];
}

/** How many comments of the thread the prompt shows. */
export const THREAD_COMMENTS = 8;

/**
 * Timestamps as text formatted by the database, in UTC: a JavaScript Date would lose the
 * microseconds and depend on how each query path parses timestamps.
 */
export const AT = `'YYYY-MM-DD HH24:MI'`;
