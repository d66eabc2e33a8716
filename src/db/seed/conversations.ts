/**
 * Customers, conversations and messages. A conversation's shape (message types and
 * timestamps) comes from its own "timeline" stream and its text from a separate "content"
 * stream, so the conversations table (which needs the last message's time) can be written
 * before the messages table without generating any text twice.
 */
import type { ConversationFixture, ConversationSource, MessageType } from '../fixtures.js';
import { BASE_TIME_MS, DAY, FIXTURE_START_MS, HOUR, MINUTE, SECOND } from './clock.js';
import { drawVars, joinGreeting } from './content.js';
import { IdPermutation } from './ids.js';
import { LEXICON, TOPICS, type Lang, type LangPack, type Topic } from './lexicon.js';
import { Rng } from './prng.js';
import type { TenantProfile } from './roster.js';
import type { ScaleSpec } from './scales.js';
import type { JsonValue, RowOf } from './schema.js';
import { fill, isoTime } from './text.js';

const SOURCES: readonly ConversationSource[] = ['instagram', 'instagram', 'instagram', 'telegram', 'telegram', 'whatsapp', 'website'];
const HANDLE_WORDS = ['sara', 'maryam', 'ali', 'reza', 'nova', 'sky', 'lina', 'omid', 'mina', 'dani', 'leo', 'max', 'noor', 'yasi', 'kia'];
const PHONE_PREFIX: Readonly<Record<Lang, [string, number]>> = {
  fa: ['+989', 9],
  en: ['+1', 10],
  de: ['+49', 11],
  es: ['+34', 9],
  ar: ['+971', 9],
};

/** A conversation before its text exists: who, where, when, how many messages. */
export interface ConversationHeader {
  readonly id: string;
  readonly tenant: TenantProfile;
  readonly customerId: number;
  readonly lang: Lang;
  readonly source: ConversationSource;
  readonly startMs: number;
  readonly messageCount: number;
  /** Counter value of the first message's id (ids are a permutation of a global counter). */
  readonly firstMessageIndex: number;
  readonly fixture: ConversationFixture | null;
}

/** Language and channel of generated customer `id` (its own stream: cheap to recompute). */
export function customerTraits(seed: number, id: number, tenant: TenantProfile): { lang: Lang; source: ConversationSource } {
  const rng = new Rng(seed, 'customer-traits', id);
  const lang: Lang = tenant.lang !== 'en' && rng.chance(0.08) ? 'en' : tenant.lang;
  return { lang, source: rng.pick(SOURCES) };
}

/** Every conversation header, fixtures first (so their ids and times do not depend on the scale). */
export function planConversations(seed: number, scale: ScaleSpec, tenants: readonly TenantProfile[], fixtures: readonly ConversationFixture[]): ConversationHeader[] {
  const ids = new IdPermutation(idKeys(seed, 'conversation-ids'));
  const headers: ConversationHeader[] = [];
  let messageIndex = 0;
  fixtures.forEach((fixture, i) => {
    const tenant = tenants[fixture.tenant - 1];
    headers.push({
      id: fixture.id,
      tenant,
      customerId: i + 1,
      lang: tenant.lang,
      source: fixture.source,
      startMs: FIXTURE_START_MS + i * HOUR,
      messageCount: fixture.messages.length,
      firstMessageIndex: messageIndex,
      fixture,
    });
    messageIndex += fixture.messages.length;
  });
  let conversationIndex = 0;
  const [minMessages, maxMessages] = scale.messagesPerConversation;
  for (const tenant of tenants) {
    const rng = new Rng(seed, 'conversations', tenant.id);
    for (let k = 0; k < tenant.conversations; k++) {
      // The first conversations each get a new customer; the rest go to returning customers.
      const customerId = tenant.firstCustomerId + (k < tenant.customers ? k : rng.below(tenant.customers));
      const traits = customerTraits(seed, customerId, tenant);
      const messageCount = rng.int(minMessages, maxMessages);
      headers.push({
        id: ids.id(conversationIndex++),
        tenant,
        customerId,
        lang: traits.lang,
        source: traits.source,
        startMs: BASE_TIME_MS - 1 - rng.below(120 * DAY),
        messageCount,
        firstMessageIndex: messageIndex,
        fixture: null,
      });
      messageIndex += messageCount;
    }
  }
  return headers;
}

/** Four round keys for an id permutation, from the seed. */
export function idKeys(seed: number, name: string): number[] {
  const rng = new Rng(seed, name);
  return [rng.next(), rng.next(), rng.next(), rng.next()];
}

/** Message types and created_at of one conversation. */
export interface Timeline {
  readonly types: readonly MessageType[];
  readonly times: readonly number[];
}

const NEXT_TYPE: Readonly<Record<MessageType, readonly [MessageType, number][]>> = {
  customer: [['AI', 0.85], ['support', 0.07], ['customer', 0.08]],
  AI: [['customer', 0.9], ['support', 0.07], ['marketing', 0.03]],
  support: [['customer', 0.7], ['AI', 0.2], ['support', 0.1]],
  marketing: [['customer', 0.9], ['support', 0.1]],
};

/** The shape of a conversation. Some messages share a created_at with the one before (ties). */
export function conversationTimeline(seed: number, header: ConversationHeader): Timeline {
  const rng = new Rng(seed, 'timeline', header.id);
  const types: MessageType[] = [];
  const times: number[] = [];
  let time = header.startMs;
  if (header.fixture) {
    for (const message of header.fixture.messages) {
      const delay = message.delayMs ?? (message.type === 'AI' ? rng.int(4 * SECOND, 20 * SECOND) : rng.int(30 * SECOND, 4 * MINUTE));
      time += delay;
      types.push(message.type);
      times.push(time);
    }
    return { types, times };
  }
  for (let i = 0; i < header.messageCount; i++) {
    let type: MessageType;
    if (i === 0) type = rng.chance(0.08) ? 'marketing' : 'customer';
    else {
      const roll = rng.float();
      let acc = 0;
      type = 'customer';
      for (const [candidate, p] of NEXT_TYPE[types[i - 1]]) {
        acc += p;
        if (roll < acc) {
          type = candidate;
          break;
        }
      }
    }
    if (i > 0) {
      if (rng.chance(0.06)) {
        // Same created_at as the previous message: "before M" must break the tie by id.
      } else if (type === 'AI') time += rng.int(1500, 25 * SECOND);
      else if (type === 'support') time += rng.int(MINUTE, 2 * HOUR);
      else if (type === 'marketing') time += rng.int(DAY, 5 * DAY);
      else time += rng.chance(0.1) ? rng.int(HOUR, 20 * HOUR) : rng.int(8 * SECOND, 10 * MINUTE);
    }
    types.push(type);
    times.push(time);
  }
  return { types, times };
}

const STATUSES: readonly [string, number][] = [['active', 0.4], ['closed', 0.45], ['pending', 0.1], ['archived', 0.05]];
const PRIORITIES: readonly [string, number][] = [['normal', 0.7], ['high', 0.15], ['low', 0.1], ['urgent', 0.05]];

function weighted(rng: Rng, options: readonly [string, number][]): string {
  const roll = rng.float();
  let acc = 0;
  for (const [value, p] of options) {
    acc += p;
    if (roll < acc) return value;
  }
  return options[options.length - 1][0];
}

/** The `conversations` row of a header. */
export function conversationRow(seed: number, header: ConversationHeader, timeline: Timeline): RowOf<'conversations'> {
  const rng = new Rng(seed, 'conversation-row', header.id);
  const last = timeline.times[timeline.times.length - 1];
  if (header.fixture) {
    return {
      id: header.id,
      user_id: header.tenant.id,
      customer_id: header.customerId,
      source: header.source,
      status: 'active',
      title: header.fixture.title,
      is_active: true,
      priority: 'normal',
      created_at: isoTime(header.startMs),
      updated_at: isoTime(last),
    };
  }
  const status = weighted(rng, STATUSES);
  const pack = LEXICON[header.lang];
  const titleRoll = rng.float();
  const title =
    titleRoll < 0.6 ? fill(rng.pick(pack.conversationTitles), drawVars(rng, pack, header.tenant.business, header.tenant.businessName)) : titleRoll < 0.85 ? null : '';
  return {
    id: header.id,
    user_id: header.tenant.id,
    customer_id: header.customerId,
    source: header.source,
    status,
    title,
    is_active: status === 'active' || status === 'pending',
    priority: weighted(rng, PRIORITIES),
    created_at: isoTime(header.startMs),
    updated_at: isoTime(last),
  };
}

/** The `messages` rows of one conversation, oldest first. */
export function* conversationMessages(
  seed: number,
  header: ConversationHeader,
  timeline: Timeline,
  messageIds: IdPermutation,
): Generator<RowOf<'messages'>> {
  const rng = new Rng(seed, 'content', header.id);
  const pack = LEXICON[header.lang];
  const nouns = pack.catalog[header.tenant.business].nouns;
  // What the conversation is about right now: the AI answers about the product and city the
  // customer just asked about.
  const focus = { product: rng.pick(nouns), city: rng.pick(pack.cities), color: rng.pick(pack.colors) };
  const refocus = () => {
    if (rng.chance(0.5)) focus.product = rng.pick(nouns);
    if (rng.chance(0.3)) focus.city = rng.pick(pack.cities);
    if (rng.chance(0.5)) focus.color = rng.pick(pack.colors);
  };
  const vars = {
    ...drawVars(rng, pack, header.tenant.business, header.tenant.businessName),
    product: () => focus.product,
    city: () => focus.city,
    color: () => focus.color,
  };
  let topic: Topic | null = null;
  let questionIndex = 0;
  let lastCustomerWasThanks = false;
  let seenCustomer = false;
  const n = timeline.types.length;
  for (let i = 0; i < n; i++) {
    const type = timeline.types[i];
    let content: string;
    if (header.fixture) {
      content = header.fixture.messages[i].content;
    } else if (type === 'customer') {
      const first = !seenCustomer;
      seenCustomer = true;
      const roll = rng.float();
      const thanksBefore = lastCustomerWasThanks;
      lastCustomerWasThanks = false;
      if (first || roll < 0.6 || (thanksBefore && roll >= 0.85)) {
        refocus();
        topic = rng.pick(TOPICS);
        questionIndex = rng.below(pack.topics[topic].customerQuestions.length);
        const question = fill(pack.topics[topic].customerQuestions[questionIndex], vars);
        content = first && rng.chance(0.7) ? joinGreeting(pack.lang, rng.pick(pack.greetings), question) : question;
      } else if (roll < 0.85) {
        refocus();
        // A follow-up is about the product, not the last topic: the AI answers with product copy.
        topic = null;
        content = fill(rng.pick(pack.followUps), vars);
      } else {
        content = rng.pick(pack.thanks);
        lastCustomerWasThanks = true;
      }
    } else if (type === 'AI') {
      content = aiReply(rng, pack, vars, topic, questionIndex, lastCustomerWasThanks);
    } else if (type === 'support') {
      content = fill(rng.pick(pack.supportLines), vars);
    } else {
      content = fill(rng.pick(pack.marketingLines), vars);
    }
    const next = i + 1 < n ? timeline.types[i + 1] : null;
    yield messageRow(rng, header, i, type, content, timeline.times[i], next, messageIds, pack);
  }
}

function aiReply(
  rng: Rng,
  pack: LangPack,
  vars: ReturnType<typeof drawVars>,
  topic: Topic | null,
  questionIndex: number,
  afterThanks: boolean,
): string {
  if (afterThanks) return rng.pick(pack.aiClosers);
  const parts: string[] = [];
  if (rng.chance(0.5)) parts.push(rng.pick(pack.aiOpeners));
  if (topic !== null) {
    // The word lists write the i-th customer question and the i-th answer about the same thing.
    const answers = pack.topics[topic].faqAnswers;
    parts.push(fill(questionIndex < answers.length ? answers[questionIndex] : rng.pick(answers), vars));
  }
  if (topic === null || rng.chance(0.35)) parts.push(fill(rng.pick(pack.productSentences), vars));
  if (rng.chance(0.5)) parts.push(rng.pick(pack.aiClosers));
  return parts.join(' ');
}

function messageRow(
  rng: Rng,
  header: ConversationHeader,
  i: number,
  type: MessageType,
  content: string,
  time: number,
  next: MessageType | null,
  messageIds: IdPermutation,
  pack: LangPack,
): RowOf<'messages'> {
  let metadata: JsonValue = null;
  let inputTokens: number | null = null;
  let outputTokens: number | null = null;
  let feedback: string | null = null;
  let feedbackComment: string | null = null;
  if (type === 'AI') {
    inputTokens = rng.int(600, 4200);
    outputTokens = rng.int(20, 320);
    metadata = { model: 'gemini-2.0-flash', latency_ms: rng.int(700, 21000), prompt_version: 'v3', context_chars: rng.int(2000, 40000) };
    const roll = rng.float();
    if (roll < 0.1) feedback = 'like';
    else if (roll < 0.14) feedback = 'dislike';
    if (feedback !== null && rng.chance(0.4)) feedbackComment = rng.chance(0.2) ? '' : rng.pick(pack.feedbackComments);
  } else if (type === 'customer') {
    if (!rng.chance(0.2)) metadata = { platform: header.source, platform_message_id: String(rng.int(100000000, 999999999)) + String(rng.int(1000, 9999)) };
  } else if (type === 'support') {
    metadata = { agent_id: rng.int(1, 12) };
  } else {
    metadata = { campaign: rng.pick(['autumn-sale', 'new-arrivals', 'restock', 'vip']), broadcast_id: rng.int(1, 400) };
  }
  return {
    id: messageIds.id(header.firstMessageIndex + i),
    conversation_id: header.id,
    // AI and support replies carry the conversation's customer too (as in the real backend).
    customer_id: type === 'marketing' ? null : header.customerId,
    type,
    content,
    is_ai_response: type === 'AI',
    is_answered: type === 'customer' ? next === 'AI' || next === 'support' : type !== 'marketing',
    metadata,
    input_tokens: inputTokens,
    output_tokens: outputTokens,
    total_tokens: inputTokens === null || outputTokens === null ? null : inputTokens + outputTokens,
    feedback,
    feedback_comment: feedbackComment,
    created_at: isoTime(time),
  };
}

/** The `customers` row of generated customer `id`. */
export function customerRow(seed: number, id: number, tenant: TenantProfile): RowOf<'customers'> {
  const { lang, source } = customerTraits(seed, id, tenant);
  const pack = LEXICON[lang];
  const rng = new Rng(seed, 'customer', id);
  const handle = `${rng.pick(HANDLE_WORDS)}${rng.pick(['', '_', '.'])}${rng.int(1, 9999)}`;
  const [prefix, digits] = PHONE_PREFIX[lang];
  let phone: string | null = null;
  if (source === 'whatsapp' || rng.chance(0.45)) {
    phone = prefix;
    for (let d = 0; d < digits; d++) phone += String(rng.below(10));
    if (rng.chance(0.03)) phone = '';
  }
  const createdMs = BASE_TIME_MS - rng.int(130 * DAY, 400 * DAY);
  const updatedMs = createdMs + rng.below(120 * DAY);
  const lastRoll = rng.float();
  let persona: JsonValue = null;
  if (rng.chance(0.6)) {
    persona = {
      language: lang,
      segment: rng.pick(['new', 'returning', 'vip', 'at_risk']),
      sentiment: rng.pick(['positive', 'neutral', 'negative']),
      purchase_intent: rng.int(0, 100) / 100,
      interests: rng.sample(pack.catalog[tenant.business].nouns, rng.int(1, 3)),
      topics: rng.sample(TOPICS, rng.int(0, 3)),
      preferred_contact: source,
    };
  }
  return {
    id,
    first_name: rng.chance(0.04) ? null : rng.pick(pack.firstNames),
    last_name: lastRoll < 0.3 ? null : lastRoll < 0.33 ? '' : rng.pick(pack.lastNames),
    username: source === 'whatsapp' || source === 'website' ? null : handle,
    phone_number: phone,
    email: rng.chance(0.25) ? `${handle.replace(/[_.]/g, '')}@${rng.pick(['gmail.com', 'yahoo.com', 'outlook.com', 'proton.me'])}` : null,
    bio: rng.chance(0.45) ? fill(rng.pick(pack.bios), { city: rng.pick(pack.cities) }) : null,
    persona_data: persona,
    source,
    source_id: String(rng.int(10000, 99999)) + String(rng.int(100000, 999999999)),
    profile_picture:
      source === 'instagram' && rng.chance(0.8)
        ? `https://scontent.cdninstagram.com/v/t51.2885-19/${rng.int(100000000, 999999999)}_n.jpg`
        : source === 'telegram' && rng.chance(0.5)
          ? `https://t.me/i/userpic/320/${handle}.jpg`
          : null,
    created_at: isoTime(createdMs),
    updated_at: isoTime(updatedMs),
  };
}

/** The `customers` row of a fixture's customer (id = position of the fixture + 1). */
export function fixtureCustomerRow(seed: number, id: number, fixture: ConversationFixture): RowOf<'customers'> {
  const rng = new Rng(seed, 'fixture-customer', fixture.id);
  const c = fixture.customer;
  const createdMs = FIXTURE_START_MS - 30 * DAY - rng.below(DAY);
  return {
    id,
    first_name: c.firstName,
    last_name: c.lastName,
    username: c.username,
    phone_number: c.phoneNumber,
    email: c.email,
    bio: c.bio,
    persona_data: null,
    source: fixture.source,
    source_id: String(rng.int(10000, 99999)) + String(rng.int(100000, 999999999)),
    profile_picture: null,
    created_at: isoTime(createdMs),
    updated_at: isoTime(createdMs + rng.below(DAY)),
  };
}
