// Apollo Client with its default InMemoryCache, as a partner's frontend would use it: one query for
// the events list with markets and outcomes against ODDSGATE_URL/graphql, the result read back
// from the normalized cache (objects keyed by __typename and id), printed as one JSON line.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const EVENTS = gql`
  query Events {
    events {
      id
      homeTeam
      awayTeam
      markets {
        id
        type
        outcomes {
          id
          name
          odds {
            decimal
          }
        }
      }
    }
  }
`;

const client = new ApolloClient({
  link: new HttpLink({
    uri: `${process.env.ODDSGATE_URL}/graphql`,
    headers: { authorization: `Bearer ${process.env.ODDSGATE_TOKEN}` },
  }),
  cache: new InMemoryCache(),
});

const { data } = await client.query({ query: EVENTS });
console.log(JSON.stringify({ data, cache: client.cache.extract() }));
