/**
 * Consultation (topic) helpers over REST: start, end, enter, lists by state, counts, topic
 * messages. A topic's id is the host system's consult code. Available as `client.topics`.
 */
import type { Message, Topic, TopicState } from '@careline/protocol';
import type { CarelineApi, HistoryQuery } from './rest.ts';

export interface StartTopic {
  /** The host system's consult code: starting the same id again returns the first topic. */
  topic_id: string;
  name?: string;
  description?: string;
  patient_id?: string;
  team_id?: string;
  doctor_id?: string;
  consult_type?: string | number;
  /** Text of the start message (default: the name). */
  text?: string;
}

export interface TopicPage {
  topics: Topic[];
  /** Pass as `cursor` for the next page; `null` on the last one. */
  next_cursor: string | null;
}

export interface TopicListQuery {
  session_id?: string;
  patient_id?: string;
  state?: TopicState;
  since?: number;
  until?: number;
  limit?: number;
  cursor?: string;
}

export type TopicCounts = Record<TopicState, number>;

const enc = encodeURIComponent;

export class TopicsApi {
  readonly #api: CarelineApi;

  constructor(api: CarelineApi) {
    this.#api = api;
  }

  /** Starts a consultation in a session (writes its type-6 message). */
  start(sessionId: string, input: StartTopic): Promise<{ topic: Topic; created: boolean }> {
    return this.#api.request('POST', `/sessions/${enc(sessionId)}/topics`, { body: input });
  }

  /** Ends a consultation (care team only); `topicId` may be `current`. `text` is the closing message. */
  async end(sessionId: string, topicId: string, text?: string): Promise<Topic> {
    const r = await this.#api.request<{ topic: Topic }>('PUT', `/sessions/${enc(sessionId)}/topics/${enc(topicId)}/ended`, { body: text === undefined ? {} : { text } });
    return r.topic;
  }

  /** The patient enters the consultation (a type-14 message). */
  async enter(sessionId: string, topicId: string): Promise<Topic> {
    return (await this.#api.request<{ topic: Topic }>('PUT', `/sessions/${enc(sessionId)}/topics/${enc(topicId)}/into`, { body: {} })).topic;
  }

  /** Whether a topic (or the session's `current` one) has ended. */
  ended(sessionId: string, topicId = 'current'): Promise<{ ended: boolean; topic: Topic }> {
    return this.#api.request('GET', `/sessions/${enc(sessionId)}/topics/${enc(topicId)}/ended`);
  }

  async get(topicId: string): Promise<Topic> {
    return (await this.#api.request<{ topic: Topic }>('GET', `/sessions/topics/${enc(topicId)}`)).topic;
  }

  /** Topics the user may see, newest first. */
  list(q: TopicListQuery = {}): Promise<TopicPage> {
    return this.#api.request('GET', '/sessions/topics', { query: { ...q } });
  }

  /** Topics in one state (unreplied, in progress, replied, ended without reply). */
  byState(state: TopicState, q: { team_id?: string; doctor_id?: string; limit?: number; cursor?: string } = {}): Promise<TopicPage> {
    return this.#api.request('GET', '/sessions/topicListByType', { query: { type: state, ...q } });
  }

  /** How many topics are in each state. */
  counts(q: { team_id?: string; doctor_id?: string; since?: number; until?: number } = {}): Promise<TopicCounts> {
    return this.#api.request('GET', '/sessions/topicListCountByType', { query: { ...q } });
  }

  /** The messages of a topic, ascending by seq. */
  messages(topicId: string, q: HistoryQuery = {}): Promise<{ messages: Message[]; has_more: boolean; topic: Topic }> {
    return this.#api.request('GET', `/sessions/topic/${enc(topicId)}/messages`, { query: { ...q } });
  }
}
