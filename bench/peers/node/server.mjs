// Reference GraphQL subscription server for bench/peers/run.py: the stack most Node services use.
//
//   taskset -c 0 node server.mjs --port 8100
//
// - GraphQL over WebSocket (graphql-transport-ws) at /graphql: graphql-ws's `useServer` on a `ws`
//   WebSocketServer, executed by graphql-js, one execution per subscriber and delta, as graphql-ws
//   does it.
// - An in-memory pubsub keyed by event id: graphql-subscriptions' `PubSub` (an EventEmitter with one
//   async iterator per subscription), the pubsub its own docs and Apollo's start from.
// - POST /publish takes a JSON array of deltas and publishes each under `odds.<event_id>`.
// - GET /health answers 200 once listening.
//
// The schema names its types and fields like oddsgate's (`OddsDelta`, `Outcome`, `Odds`), so the
// benchmark sends the very same subscription document to both. The deltas arrive in snake_case
// (`event_id`, `market_id`, `sent_at`); field resolvers map them, as a service over such a feed
// would. `timestamp` is the publisher's `sent_at`: the bench measures latency from it.

import { EventEmitter } from 'node:events';
import http from 'node:http';
import { parseArgs } from 'node:util';

import {
  GraphQLBoolean,
  GraphQLFloat,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLSchema,
  GraphQLString,
} from 'graphql';
import { PubSub } from 'graphql-subscriptions';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8100' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const nonNull = (type) => new GraphQLNonNull(type);

// oddsgate's timestamps are an ISO 8601 `DateTime` scalar; the publisher already sends ISO text.
const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => String(value),
  parseValue: (value) => String(value),
});

const Odds = new GraphQLObjectType({
  name: 'Odds',
  fields: {
    decimal: { type: nonNull(GraphQLFloat) },
    american: { type: nonNull(GraphQLString) },
    fractional: { type: nonNull(GraphQLString) },
  },
});

const Outcome = new GraphQLObjectType({
  name: 'Outcome',
  fields: {
    id: { type: nonNull(GraphQLString) },
    name: { type: nonNull(GraphQLString) },
    odds: { type: nonNull(Odds) },
  },
});

const OddsDelta = new GraphQLObjectType({
  name: 'OddsDelta',
  description: "One change to one event, with the event's next seq.",
  fields: {
    eventId: { type: nonNull(GraphQLString), resolve: (d) => d.event_id },
    sport: { type: nonNull(GraphQLString) },
    seq: { type: nonNull(GraphQLInt) },
    timestamp: { type: nonNull(DateTime), resolve: (d) => d.sent_at },
    source: { type: nonNull(GraphQLString) },
    reason: { type: nonNull(GraphQLString) },
    marketId: { type: GraphQLString, resolve: (d) => d.market_id },
    marketType: { type: GraphQLString, resolve: (d) => d.market_type },
    line: { type: GraphQLFloat },
    suspended: { type: GraphQLBoolean },
    margin: { type: GraphQLFloat },
    outcomes: { type: nonNull(new GraphQLList(nonNull(Outcome))) },
    conflated: { type: nonNull(GraphQLBoolean), resolve: () => false },
  },
});

// One listener per subscription on a popular event's topic: EventEmitter's leak warning (at 10)
// does not apply, so it is turned off, as services using this PubSub do.
const events = new EventEmitter();
events.setMaxListeners(0);
const pubsub = new PubSub({ eventEmitter: events });
const topic = (eventId) => `odds.${eventId}`;

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: 'Query',
    fields: { health: { type: GraphQLString, resolve: () => 'ok' } },
  }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      oddsUpdated: {
        type: nonNull(OddsDelta),
        args: { eventIds: { type: new GraphQLList(nonNull(GraphQLString)) } },
        subscribe: (_root, { eventIds }) => pubsub.asyncIterableIterator((eventIds ?? []).map(topic)),
        resolve: (delta) => delta,
      },
    },
  }),
});

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function reply(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

const server = http.createServer(async (request, response) => {
  if (request.method === 'GET' && request.url === '/health') {
    reply(response, 200, { status: 'ok' });
    return;
  }
  if (request.method === 'POST' && request.url === '/publish') {
    let deltas;
    try {
      deltas = JSON.parse(await readBody(request));
    } catch (err) {
      reply(response, 400, { error: String(err) });
      return;
    }
    if (!Array.isArray(deltas)) {
      reply(response, 400, { error: 'expected a JSON array of deltas' });
      return;
    }
    for (const delta of deltas) {
      pubsub.publish(topic(delta.event_id), delta);
    }
    reply(response, 200, { published: deltas.length });
    return;
  }
  reply(response, 404, { error: 'not found' });
});

// ws 8 turns permessage-deflate off on servers by default; the Python servers do not offer it either.
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({ schema }, wss);

server.listen(Number(values.port), values.host, () => {
  console.log(`node peer listening on http://${values.host}:${values.port} (graphql-ws at /graphql), pid ${process.pid}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const client of wss.clients) client.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
