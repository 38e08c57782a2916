"""The `oddsgate` command: serve, migrate, replay, token, ledger, schema."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Sequence

from gateway import token_cli
from gateway.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oddsgate", description="Odds API gateway.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the gateway (settings from ODDSGATE_* variables)")
    serve.add_argument("--host", help="overrides ODDSGATE_HOST")
    serve.add_argument("--port", type=int, help="overrides ODDSGATE_PORT")
    serve.add_argument("--no-demo", action="store_true", help="do not start the demo feed")

    migrate = commands.add_parser("migrate", help="upgrade the database to the latest schema")
    migrate.add_argument("--revision", default="head")

    replay = commands.add_parser("replay", help="feed a JSONL file of vendor payloads to a running gateway")
    replay.add_argument("file", help="JSONL: {at, adapter, source, payload} per line")
    replay.add_argument("--url", default=None, help="gateway base URL (default: from ODDSGATE_HOST/PORT)")
    replay.add_argument(
        "--speed", type=float, default=1.0, help="multiple of recorded time; 0 sends as fast as possible"
    )
    replay.add_argument("--token", default=None, help="bearer token for the gateway")
    token_cli.add_commands(commands)
    contract = commands.add_parser("schema", help="print the API's contract: GraphQL SDL or the OpenAPI document")
    contract.add_argument("kind", choices=["graphql", "openapi"])
    ledger = commands.add_parser("ledger", help="the betting ledger")
    ledger.add_subparsers(dest="action", required=True).add_parser(
        "check", help="reconcile every balance with its postings; exit 1 when anything is off"
    )

    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "token":
        return token_cli.run(settings, args)
    if args.command == "ledger":
        return _ledger_check(settings)
    if args.command == "schema":
        print(contract_text(settings, args.kind))
        return 0
    if args.command == "migrate":
        from store.migrate import upgrade

        upgrade(settings.database_url, args.revision)
        print(f"database at {settings.database_url} is at {args.revision}")
        return 0
    from gateway.replay import replay_file

    url = args.url or f"http://{settings.host}:{settings.port}"
    return replay_file(args.file, url, speed=args.speed, token=args.token)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.serving import uvicorn_options

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.no_demo:
        overrides["demo_feed"] = False
    if overrides:
        settings = settings.model_copy(update=overrides)
    # Each delta makes short-lived objects by the thousand; the default gen-0 threshold (700) runs
    # a collection every few deltas and a full one often enough to stall the loop for ~0.1 s.
    gc.set_threshold(50_000, 20, 100)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **uvicorn_options(settings))
    return 0


def contract_text(settings: Settings, kind: str) -> str:
    """`schema.graphql` (the SDL) or `openapi.json`, as committed at the repository's root."""
    if kind == "graphql":
        from resolvers import build_schema

        return str(build_schema(settings.graphql_max_depth, settings.graphql_max_aliases, settings.graphql_max_tokens))
    import json

    from gateway.app import create_app
    from gateway.openapi import document

    return json.dumps(document(create_app(settings).routes), indent=2, ensure_ascii=False)


def _ledger_check(settings: Settings) -> int:
    import asyncio

    from betting.wallet import WalletService
    from store.db import create_engine
    from store.migrate import upgrade

    upgrade(settings.database_url)

    async def check() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            return await WalletService(engine).check()
        finally:
            await engine.dispose()

    problems = asyncio.run(check())
    for problem in problems:
        print(problem)
    print("ledger check: clean" if not problems else f"ledger check: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
