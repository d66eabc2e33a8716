-- A small help-desk: agents answer tickets that customers open; every ticket has a thread of
-- comments written by either an agent or the customer. Schema plus a deterministic dataset
-- (no random(), no now()): 6 agents, 30 customers, 120 tickets, 719 comments, identical on
-- every machine, so query, row and byte counts are exact numbers.
--
-- Embedded: npx ctxbench compare --setup examples/own-schema/schema.sql --turns ... (see README.md)
-- A server:  psql "$URL" -v ON_ERROR_STOP=1 -f examples/own-schema/schema.sql

create table agents (
  id    integer primary key,
  name  text not null,
  team  text not null
);

create table customers (
  id       integer primary key,
  name     text not null,
  email    text not null unique,
  plan     text not null check (plan in ('free', 'pro', 'enterprise')),
  company  text -- NULL for private customers
);

create table tickets (
  id           integer primary key,
  customer_id  integer not null references customers (id),
  assignee_id  integer references agents (id), -- NULL while unassigned
  subject      text not null,
  status       text not null check (status in ('open', 'pending', 'solved', 'closed')),
  priority     text not null check (priority in ('low', 'normal', 'high', 'urgent')),
  created_at   timestamptz not null,
  updated_at   timestamptz not null
);
create index tickets_customer_id_idx on tickets (customer_id);
create index tickets_assignee_id_idx on tickets (assignee_id);

create table comments (
  id                  integer primary key,
  ticket_id           integer not null references tickets (id),
  author_agent_id     integer references agents (id),
  author_customer_id  integer references customers (id),
  body                text not null,
  is_internal         boolean not null default false, -- agents' notes the customer never sees
  created_at          timestamptz not null,
  check (num_nonnulls(author_agent_id, author_customer_id) = 1)
);
-- The thread of a ticket, newest first: (ticket_id, created_at, id).
create index comments_ticket_id_created_at_idx on comments (ticket_id, created_at, id);
create index comments_author_agent_id_idx on comments (author_agent_id);
create index comments_author_customer_id_idx on comments (author_customer_id);

insert into agents (id, name, team) values
  (1, 'Maya Okafor', 'billing'),
  (2, 'Jonas Berg', 'technical'),
  (3, 'Leila Rahimi', 'technical'),
  (4, 'Tomás Ortega', 'onboarding'),
  (5, 'Aiko Tanaka', 'billing'),
  (6, 'Sam Whitfield', 'escalations');

-- 30 customers; every 4th has no company (NULL), names include non-ASCII text.
insert into customers (id, name, email, plan, company)
select i,
       (array['Ada', 'Bruno', 'Chioma', 'Dmitri', 'Zoë', 'Farid', 'Greta', 'Hiroshi', 'Inès', 'Sara'])[1 + i % 10]
         || ' ' ||
       (array['Lovelace', 'Søndergaard', 'Nwosu', 'Ivanov', 'Hartmann', 'Karimi', 'Lindqvist', 'Sato', 'Dubois'])[1 + (i * 7) % 9],
       'customer' || i || '@example.com',
       (array['free', 'pro', 'enterprise'])[1 + i % 3],
       case when i % 4 = 0 then null
            else (array['Acme Ltd', 'Globex', 'Initech', 'Umbrella GmbH', 'Hooli', 'Vandelay Industries', 'Soylent Co'])[1 + i % 7]
       end
from generate_series(1, 30) as i;

-- 120 tickets; every 5th is unassigned.
insert into tickets (id, customer_id, assignee_id, subject, status, priority, created_at, updated_at)
select i,
       1 + (i * 7) % 30,
       case when i % 5 = 0 then null else 1 + (i * 3) % 6 end,
       (array['Invoice shows the wrong VAT rate', 'Cannot reset my password', 'Export to CSV times out',
              'Add a second admin to our account', 'Webhook deliveries fail with 502', 'Downgrade to the free plan',
              'SSO login loops back to the start', 'Charged twice this month'])[1 + i % 8] || ' (#' || i || ')',
       (array['open', 'pending', 'solved', 'closed'])[1 + i % 4],
       (array['low', 'normal', 'high', 'urgent'])[1 + (i * 5) % 4],
       timestamptz '2025-03-01 08:00:00+00' + i * interval '3 hours 17 minutes',
       timestamptz '2025-03-01 08:00:00+00' + i * interval '3 hours 17 minutes' + (i % 11) * interval '41 minutes'
from generate_series(1, 120) as i;

-- Ticket t gets (t * 5) % 13 comments (0 to 12): odd ones by its customer, even ones by its
-- assignee (or, while unassigned, a triage agent). A customer's comment and the agent's
-- answer share one timestamp, so the thread's order needs its tie-break on id.
insert into comments (id, ticket_id, author_agent_id, author_customer_id, body, is_internal, created_at)
select t.id * 100 + n,
       t.id,
       case when n % 2 = 0 then coalesce(t.assignee_id, 1 + (t.id + n) % 6) end,
       case when n % 2 = 1 then t.customer_id end,
       case when n % 2 = 1
            then (array['It still happens this morning.', 'Here is a screenshot of the error.', 'Any update on this?',
                        'That worked, thank you!', 'We need this fixed before Friday’s payroll run.', 'Merci, c’est réglé.'])[1 + (t.id + n) % 6]
            else (array['Thanks for the report, I can reproduce it.', 'Could you send the request id from the response header?',
                        'A fix is deployed; please try again.', 'I have escalated this to engineering.',
                        'Refund issued, it takes 3-5 business days.', 'Closing this as solved; reply to reopen.'])[1 + (t.id * n) % 6]
       end || ' [' || t.id || '.' || n || ']',
       n % 6 = 4, -- some of the agent's comments are internal notes
       t.created_at + ((n - 1) / 2) * interval '23 minutes'
from tickets t
cross join lateral generate_series(1, (t.id * 5) % 13) as n;

analyze;
