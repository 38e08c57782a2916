// Runs every server audit of graphql-http (the GraphQL-over-HTTP spec's reference audit) against
// ODDSGATE_URL/graphql and prints one JSON line: each audit's id, name, status and, when it did
// not pass, why and what the server answered. The gateway wants a bearer token on every request.
import { serverAudits } from "graphql-http";

const url = `${process.env.ODDSGATE_URL}/graphql`;
const authorization = `Bearer ${process.env.ODDSGATE_TOKEN}`;

function withToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", authorization);
  return fetch(input, { ...init, headers });
}

const results = [];
for (const { fn } of serverAudits({ url, fetchFn: withToken })) {
  // One at a time: the server's answers stay in the order the audits are listed.
  const result = await fn();
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    entry.reason = result.reason;
    entry.httpStatus = result.response.status;
    entry.contentType = result.response.headers.get("content-type");
    entry.body = await result.response.text();
  }
  results.push(entry);
}
console.log(JSON.stringify(results));
