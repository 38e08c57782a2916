"""`oddsgate token create | revoke | list`: tokens signed with the gateway's own key settings."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta

from auth.principal import SCOPES
from auth.ratelimit import parse_rate
from gateway.access import token_service
from gateway.settings import Settings
from schema.errors import OddsgateError
from store.db import create_engine
from store.migrate import upgrade_async
from store.tokens import TokenRepository


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = commands.add_parser("token", help="create, revoke and list bearer tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="print a signed token (and record it for `token list`)")
    create.add_argument("--sub", required=True, help="who the token is for")
    create.add_argument("--scope", action="append", required=True, help=f"repeatable: {', '.join(sorted(SCOPES))}")
    create.add_argument("--sport", action="append", help="repeatable sport or league (default: every sport)")
    create.add_argument("--region", help="ISO 3166 region of the end user, e.g. GB or US-NJ")
    create.add_argument("--age-verified", action="store_true")
    create.add_argument("--rate", help="the token's own rate limit, e.g. 600/minute")
    create.add_argument(
        "--origin", action="append", help="repeatable: a page origin an embed token may be used from (browsers only)"
    )
    create.add_argument("--ttl", type=float, default=3600.0, help="lifetime in seconds (default 3600)")
    revoke = actions.add_parser("revoke", help="refuse a token from now on, by its jti")
    revoke.add_argument("jti")
    actions.add_parser("list", help="tokens created here, with their state")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(settings, args))
    except (OddsgateError, ValueError) as exc:
        print(f"oddsgate token: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.auto_migrate:
        await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    repository = TokenRepository(engine)
    try:
        if args.action == "create":
            if args.rate is not None:
                parse_rate(args.rate)
            token, claims = token_service(settings).issue(
                args.sub,
                args.scope,
                args.sport or ["*"],
                region=args.region,
                age_verified=args.age_verified,
                rate_limit=args.rate,
                origins=args.origin,
                ttl=timedelta(seconds=args.ttl),
            )
            await repository.record(claims)
            print(token)
            print(json.dumps({"jti": claims["jti"], "exp": claims["exp"]}), file=sys.stderr)
        elif args.action == "revoke":
            known = await repository.revoke(args.jti)
            print(f"revoked {args.jti}" + ("" if known else " (not issued here; refused from now on)"))
        else:
            for record in await repository.list():
                state = "revoked" if record.revoked_at else "active"
                print(
                    f"{record.jti}  {record.sub or '-'}  {state}  scopes={','.join(record.scopes) or '-'}  "
                    f"sports={','.join(record.sports) or '-'}  region={record.region or '-'}  "
                    f"expires={record.expires_at.isoformat() if record.expires_at else '-'}"
                )
    finally:
        await engine.dispose()
    return 0
