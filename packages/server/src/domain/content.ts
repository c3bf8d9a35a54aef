/** Validates message content against the schema of its type (validators compiled once). */
import { MAX_CONTENT_DEPTH, MessageTypeByCode, MessageTypes, nestsDeeperThan } from '@careline/protocol';
import { Compile } from 'typebox/compile';
import { fail } from './errors.ts';

const validators = new Map([...MessageTypeByCode].map(([code, info]) => [code, Compile(info.schema)]));

export interface CheckedContent {
  json: string;
  /** Only the system or an integrator may send this type. */
  systemOnly: boolean;
}

export function checkContent(type: number, content: unknown, maxBytes: number): CheckedContent {
  const info = MessageTypeByCode.get(type);
  if (!info) throw fail('message.type_unknown', undefined, { type });
  if (info.reserved) throw fail('message.type_reserved', undefined, { type });
  // Before anything that recurses (the schema check, JSON.stringify): deep nesting breaks them.
  if (nestsDeeperThan(content, MAX_CONTENT_DEPTH)) {
    throw fail('message.content_invalid', `Content nests deeper than ${MAX_CONTENT_DEPTH} levels.`, { type, max_depth: MAX_CONTENT_DEPTH });
  }
  const v = validators.get(type)!;
  if (!v.Check(content)) {
    const errors = [...v.Errors(content)].slice(0, 5).map((e) => ({ path: e.instancePath || '/', message: e.message }));
    throw fail('message.content_invalid', `Content does not match type ${type} (${info.name}).`, { type, errors });
  }
  const json = JSON.stringify(content);
  if (Buffer.byteLength(json) > maxBytes) throw fail('message.content_too_large', undefined, { max_bytes: maxBytes });
  return { json, systemOnly: info.sender === 'system' };
}

/** The type a forwarded copy of a message of `type` gets (the original server's forward codes). */
export function forwardType(type: number): number {
  if (type === MessageTypes.TEXT || type === MessageTypes.FORWARDED_TEXT) return MessageTypes.FORWARDED_TEXT;
  if (type === MessageTypes.IMAGE || type === MessageTypes.FORWARDED_IMAGE) return MessageTypes.FORWARDED_IMAGE;
  return MessageTypes.FORWARD;
}
