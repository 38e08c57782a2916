"""GraphQL mutations: each mirrors a REST write, over the same use-case."""

from __future__ import annotations

import strawberry

from resolvers.betting import BettingMutation
from resolvers.control import ControlMutation


@strawberry.type
class Mutation(BettingMutation, ControlMutation):
    pass
