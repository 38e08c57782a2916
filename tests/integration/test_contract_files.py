"""The contract files committed at the repository's root, `schema.graphql` and `openapi.json`, are
exactly what `oddsgate schema graphql|openapi` prints from the code: clients generate from them."""

from __future__ import annotations

import difflib
import os
import subprocess
import sys

import pytest
from graphql import build_schema

from tests.support.servers import REPO


@pytest.mark.parametrize(("kind", "name"), [("graphql", "schema.graphql"), ("openapi", "openapi.json")])
def test_the_committed_file_is_what_the_code_generates(kind: str, name: str) -> None:
    # The embedded defaults, whatever this shell's ODDSGATE_* say: the files do not depend on them.
    env = {key: value for key, value in os.environ.items() if not key.startswith("ODDSGATE_")}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "schema", kind],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    path = REPO / name
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if done.stdout != committed:
        diff = difflib.unified_diff(
            committed.splitlines(), done.stdout.splitlines(), f"{name} (committed)", f"{name} (generated)", lineterm=""
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(f"{name} is out of date: run `oddsgate schema {kind} > {name}` and commit it\n{shown}")


def test_the_sdl_builds_a_schema_as_code_generators_read_it() -> None:
    schema = build_schema((REPO / "schema.graphql").read_text(encoding="utf-8"))
    assert schema.query_type is not None
    assert schema.mutation_type is not None
    assert schema.subscription_type is not None
