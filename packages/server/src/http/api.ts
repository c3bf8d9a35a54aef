/**
 * The Fastify instance the routes are registered on, with TypeBox as its type provider: the
 * one type `app.ts` builds and every `routes/*.ts` takes, in a module of its own so that the
 * routes need not import the file that imports them.
 */
import type { FastifyBaseLogger, FastifyInstance, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

export type Api = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;
