"""Replays a JSONL file of vendor payloads against a running gateway, at a chosen speed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@dataclass(slots=True)
class ReplayLine:
    at: float
    adapter: str
    source: str | None
    body: bytes


class ReplayFileError(ValueError):
    """A line of the replay file is malformed; the message names the line."""


def read_lines(path: Path) -> list[ReplayLine]:
    lines: list[ReplayLine] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ReplayFileError(f"{path}:{number}: not JSON: {exc}") from None
        if not isinstance(item, dict) or not isinstance(item.get("adapter"), str) or "payload" not in item:
            raise ReplayFileError(f"{path}:{number}: needs 'adapter' and 'payload'")
        payload = item["payload"]
        body = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
        at = item.get("at", 0.0)
        if not isinstance(at, int | float):
            raise ReplayFileError(f"{path}:{number}: 'at' must be seconds since the start")
        source = item.get("source")
        lines.append(ReplayLine(float(at), item["adapter"], source if isinstance(source, str) else None, body))
    return lines


def replay_file(file: str, url: str, *, speed: float = 1.0, token: str | None = None) -> int:
    console = Console(stderr=True, soft_wrap=True)
    try:
        lines = read_lines(Path(file))
    except (OSError, ReplayFileError) as exc:
        console.print(f"[red]cannot replay:[/red] {exc}")
        return 2
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    accepted = rejected = failed = 0
    started = time.monotonic()
    first = lines[0].at if lines else 0.0
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client, Progress(*columns, console=console) as bar:
        task = bar.add_task("replay", total=len(lines))
        for line in lines:
            if speed > 0:
                delay = (line.at - first) / speed - (time.monotonic() - started)
                if delay > 0:
                    time.sleep(delay)
            params = {"source": line.source} if line.source else {}
            try:
                response = client.post(f"/api/v2/feeds/{line.adapter}", content=line.body, params=params)
            except httpx.HTTPError as exc:
                console.print(f"[red]cannot reach {url}:[/red] {exc}")
                return 1
            if response.status_code in (200, 422) and "accepted" in response.json():
                reply = response.json()
                accepted += reply["accepted"]
                rejected += len(reply["rejected"])
            else:
                failed += 1
                console.print(f"[yellow]{line.adapter}: HTTP {response.status_code}[/yellow] {response.text[:200]}")
            bar.advance(task)
    console.print(f"replayed {len(lines)} payloads: {accepted} updates accepted, {rejected} rejected, {failed} failed")
    return 0 if failed == 0 else 1
