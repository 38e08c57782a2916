"""Demo events: teams from the alias data, hidden true probabilities, and the event lifecycle.

Nothing here knows a wire format or a canonical object: an event is teams, a start time, a status
and a model whose `markets()` gives the true probability of every outcome at a moment.
"""

from __future__ import annotations

import logging
import math
import random
import re
import tomllib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal, Protocol

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

Status = Literal["scheduled", "live", "finished"]
Kind = Literal["moneyline", "1x2", "spread", "total"]

# A finished event stays around this long so every vendor can report the final status.
LINGER_SECONDS = 25.0
# Books stop quoting in play once an outcome is this likely (the match is as good as decided).
DECIDED = 0.95
# Prices are quoted from probabilities kept inside these bounds (pre-match and in play).
PROB_FLOOR, PROB_CEILING = 0.025, 0.96


@dataclass(frozen=True, slots=True)
class League:
    sport: str
    name: str
    events: int  # how many of the ~40 demo events it holds at a time
    live_seconds: tuple[float, float]  # the compressed length of a match in demo time


LEAGUES: tuple[League, ...] = (
    League("football", "Premier League", 7, (240.0, 360.0)),
    League("football", "La Liga", 2, (240.0, 360.0)),
    League("football", "Bundesliga", 2, (240.0, 360.0)),
    League("american_football", "NFL", 6, (300.0, 420.0)),
    League("basketball", "NBA", 8, (240.0, 360.0)),
    League("ice_hockey", "NHL", 6, (210.0, 330.0)),
    League("tennis", "ATP", 5, (150.0, 300.0)),
    League("tennis", "WTA", 4, (150.0, 300.0)),
)

# Strength on a rough -1..1 scale, per league and slug. Football and tennis list their members
# here (the alias files do not say which league a club or player is in); the US leagues take
# every team of their sport and rate unknown slugs from a stable hash.
_RATINGS: dict[str, dict[str, float]] = {
    "Premier League": {
        "arsenal": 0.85, "liverpool": 0.8, "manchester-city": 0.75, "chelsea": 0.6, "newcastle": 0.45,
        "aston-villa": 0.4, "tottenham": 0.35, "manchester-united": 0.3, "brighton": 0.3,
        "crystal-palace": 0.25, "bournemouth": 0.2, "nottingham-forest": 0.15, "brentford": 0.1,
        "fulham": 0.1, "everton": 0.0, "west-ham": -0.05, "wolves": -0.2, "leeds": -0.25,
        "sunderland": -0.3, "burnley": -0.45,
    },
    "La Liga": {
        "real-madrid": 0.85, "barcelona": 0.85, "atletico-madrid": 0.6, "athletic-club": 0.35,
        "villarreal": 0.35, "real-betis": 0.25,
    },
    "Bundesliga": {
        "bayern": 0.95, "leverkusen": 0.5, "dortmund": 0.5, "leipzig": 0.4, "frankfurt": 0.3,
        "stuttgart": 0.3,
    },
    "NFL": {
        "eagles": 0.7, "chiefs": 0.6, "ravens": 0.6, "bills": 0.6, "lions": 0.6, "49ers": 0.4,
        "packers": 0.4, "rams": 0.4, "vikings": 0.4, "broncos": 0.4, "commanders": 0.3, "chargers": 0.3,
        "seahawks": 0.3, "buccaneers": 0.2, "texans": 0.2, "steelers": 0.1, "bengals": 0.1, "colts": 0.1,
        "bears": 0.1, "patriots": 0.1, "cowboys": 0.0, "jaguars": 0.0, "cardinals": -0.1,
        "falcons": -0.1, "dolphins": -0.2, "panthers": -0.3, "jets": -0.4, "giants": -0.4,
        "raiders": -0.4, "saints": -0.5, "titans": -0.6, "browns": -0.6,
    },
    "NBA": {
        "thunder": 1.0, "cavaliers": 0.7, "nuggets": 0.6, "celtics": 0.5, "knicks": 0.5, "rockets": 0.5,
        "timberwolves": 0.4, "pistons": 0.4, "lakers": 0.3, "warriors": 0.3, "magic": 0.3,
        "clippers": 0.2, "bucks": 0.1, "hawks": 0.1, "spurs": 0.1, "pacers": 0.0, "grizzlies": 0.0,
        "76ers": 0.0, "heat": 0.0, "mavericks": 0.0, "suns": -0.1, "raptors": -0.1, "bulls": -0.2,
        "kings": -0.3, "trail-blazers": -0.3, "hornets": -0.5, "pelicans": -0.5, "nets": -0.7,
        "jazz": -0.8, "wizards": -0.9,
    },
    "NHL": {
        "panthers": 0.5, "oilers": 0.5, "avalanche": 0.5, "hurricanes": 0.5, "stars": 0.5,
        "golden-knights": 0.4, "capitals": 0.4, "jets": 0.4, "maple-leafs": 0.3, "lightning": 0.3,
        "kings": 0.3, "devils": 0.2, "wild": 0.1, "senators": 0.0, "canadiens": 0.0, "rangers": 0.0,
        "blues": 0.0, "canucks": 0.0, "flames": -0.1, "islanders": -0.1, "red-wings": -0.1,
        "mammoth": -0.1, "blue-jackets": -0.2, "bruins": -0.2, "penguins": -0.3, "ducks": -0.3,
        "flyers": -0.3, "predators": -0.3, "kraken": -0.4, "sabres": -0.4, "blackhawks": -0.6,
        "sharks": -0.7,
    },
    "ATP": {
        "sinner": 1.0, "alcaraz": 1.0, "djokovic": 0.7, "zverev": 0.6, "fritz": 0.45, "draper": 0.4,
        "de-minaur": 0.4, "musetti": 0.35, "shelton": 0.35, "medvedev": 0.35, "rune": 0.3, "ruud": 0.3,
        "rublev": 0.25, "tsitsipas": 0.2,
    },
    "WTA": {
        "sabalenka": 1.0, "swiatek": 0.85, "gauff": 0.7, "rybakina": 0.6, "andreeva": 0.6,
        "pegula": 0.55, "anisimova": 0.45, "keys": 0.4, "zheng": 0.4, "paolini": 0.35, "navarro": 0.3,
        "badosa": 0.25,
    },
}  # fmt: skip
_OPEN_LEAGUES = frozenset({"NFL", "NBA", "NHL"})
_ABBREVIATION = re.compile(r"[A-Z][A-Z0-9]{1,3}")
_ALIAS_DROP = re.compile(r"[\s_\-]+")
# A team spelled like a selection ("X", "1", "Over") would be read as that selection instead.
_OUTCOME_WORDS = frozenset({"home", "away", "draw", "over", "under", "tie", "1", "2", "x", "h", "a", "d", "o", "u"})


@dataclass(frozen=True, slots=True)
class Team:
    """A team or player and the spellings the demo vendors use for it (all aliases in the data)."""

    sport: str
    league: str
    name: str
    slug: str
    short: str  # "49ers": decimal_json event names
    alt: str  # "Arsenal FC": the legacy CSV's spelling
    abbr: str | None  # "SF": american_json matchups; None where the data has no abbreviation
    rating: float


def _alias_key(name: str) -> str:
    # The same folding the normalizer uses, so "uniquely ours" here means unique there too.
    return _ALIAS_DROP.sub("", name.casefold())


def load_teams(data_dir: Path = DATA_DIR) -> dict[str, list[Team]]:
    """Teams per league name, read from every `*.toml` of the alias data; unreadable files are skipped."""
    entries: list[dict[str, object]] = []
    for path in sorted(data_dir.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            log.warning("demo feed: skipping unreadable alias file %s: %s", path, exc)
            continue
        teams = data.get("teams", [])
        if isinstance(teams, list):
            entries.extend(t for t in teams if isinstance(t, dict))
    owners: dict[tuple[str, str], set[str]] = {}
    parsed: list[tuple[str, str, str, list[str]]] = []
    for entry in entries:
        sport, name, slug, aliases = entry.get("sport"), entry.get("name"), entry.get("slug"), entry.get("aliases")
        if not isinstance(sport, str) or not isinstance(name, str) or not isinstance(slug, str):
            continue
        names = [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else []
        parsed.append((sport, name, slug, names))
        for alias in (name, slug, *names):
            owners.setdefault((sport, _alias_key(alias)), set()).add(slug)
    by_league: dict[str, list[Team]] = {}
    for sport, name, slug, aliases in parsed:
        # Only aliases that name this team alone in its sport, so every vendor spelling resolves.
        usable = [
            a
            for a in aliases
            if owners[(sport, _alias_key(a))] == {slug} and " vs " not in a and _alias_key(a) not in _OUTCOME_WORDS
        ]
        abbrs = [a for a in usable if _ABBREVIATION.fullmatch(a)]
        words = [a for a in usable if not _ABBREVIATION.fullmatch(a)]
        short = words[0] if words else name
        alt = words[1] if len(words) > 1 else short
        for league in LEAGUES:
            if league.sport != sport:
                continue
            ratings = _RATINGS.get(league.name, {})
            if slug in ratings:
                rating = ratings[slug]
            elif league.name in _OPEN_LEAGUES:
                rating = (zlib.crc32(slug.encode()) % 1000) / 1000 - 0.5
            else:
                continue
            team = Team(sport, league.name, name, slug, short, alt, abbrs[0] if abbrs else None, rating)
            by_league.setdefault(league.name, []).append(team)
            break
    return by_league


# -- probability helpers --------------------------------------------------------------------------


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def norm_ppf(p: float) -> float:
    """Inverse of `norm_cdf` by bisection: called once per event, so simplicity beats speed."""
    low, high = -10.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        if norm_cdf(mid) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw for the small rates of one simulation step (Knuth's method)."""
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def poisson_pmf(lam: float, upto: int) -> list[float]:
    terms = [math.exp(-lam)]
    for n in range(1, upto + 1):
        terms.append(terms[-1] * lam / n)
    return terms


def ou_step(rng: random.Random, value: float, anchor: float, sigma: float, dt: float, theta: float) -> float:
    """An exact Ornstein-Uhlenbeck step: a random walk that drifts back to `anchor`, never wandering off."""
    if dt <= 0.0:
        return value
    decay = math.exp(-theta * dt)
    spread = sigma * math.sqrt((1.0 - decay * decay) / (2.0 * theta))
    return anchor + (value - anchor) * decay + spread * rng.gauss(0.0, 1.0)


def _half_point(value: float) -> Decimal:
    return Decimal(round(value * 2)) / 2


def _hook(value: float) -> Decimal:
    """The x.5 line at or just below `value`, so a total can never push."""
    return Decimal(math.floor(value)) + Decimal("0.5")


@dataclass(frozen=True, slots=True)
class TrueMarket:
    """The true probability of each outcome of one market at one moment."""

    kind: Kind
    line: Decimal | None
    probs: tuple[tuple[str, float], ...]
    suspended: bool = False


class Model(Protocol):
    # What play() made happen since the event last looked: (incident type, side 0 home / 1 away).
    happened: list[tuple[str, int]]

    def drift(self, rng: random.Random, dt: float, live: bool) -> None: ...

    def scoreboard(self) -> tuple[int, int]: ...

    def play(self, rng: random.Random, df: float) -> bool:
        """Advance the match by `df` of its length; True when a score should suspend the markets."""
        ...

    def markets(self, f: float) -> list[TrueMarket]: ...


# Latent parameters wander as mean-reverting random walks: small pre-match, larger in play.
_THETA = 1.0 / 600.0
# Team news (pre-match) and momentum swings (in play) move the anchor itself this often.
_NEWS_EVERY = {False: 1200.0, True: 400.0}


class GoalsModel:
    """Football and ice hockey: independent Poisson goals with wandering scoring rates."""

    def __init__(self, lam_home: float, lam_away: float, *, three_way: bool, total: bool) -> None:
        self.anchor = [math.log(lam_home), math.log(lam_away)]
        self.log_lam = list(self.anchor)
        self.goals = [0, 0]
        self.happened: list[tuple[str, int]] = []
        self.three_way = three_way
        self.total = total
        self.total_line: Decimal | None = None

    def drift(self, rng: random.Random, dt: float, live: bool) -> None:
        sigma = 0.010 if live else 0.0025
        for side in (0, 1):
            self.log_lam[side] = ou_step(rng, self.log_lam[side], self.anchor[side], sigma, dt, _THETA)
        if rng.random() < dt / _NEWS_EVERY[live]:
            side = rng.randrange(2)
            self.anchor[side] += rng.gauss(0.0, 0.12)
            self.anchor[side] = min(max(self.anchor[side], math.log(0.2)), math.log(6.0))

    def play(self, rng: random.Random, df: float) -> bool:
        scored = False
        for side in (0, 1):
            goals = poisson(rng, math.exp(self.log_lam[side]) * df)
            self.goals[side] += goals
            self.happened.extend(("goal", side) for _ in range(goals))
            scored = scored or goals > 0
        return scored

    def scoreboard(self) -> tuple[int, int]:
        return self.goals[0], self.goals[1]

    def markets(self, f: float) -> list[TrueMarket]:
        rem = max(0.0, 1.0 - f)
        lam_home, lam_away = (math.exp(v) * rem for v in self.log_lam)
        home, away = poisson_pmf(lam_home, 14), poisson_pmf(lam_away, 14)
        lead = self.goals[0] - self.goals[1]
        win = draw = lose = 0.0
        for i, p_i in enumerate(home):
            for j, p_j in enumerate(away):
                margin = lead + i - j
                if margin > 0:
                    win += p_i * p_j
                elif margin == 0:
                    draw += p_i * p_j
                else:
                    lose += p_i * p_j
        markets: list[TrueMarket] = []
        if self.three_way:
            markets.append(TrueMarket("1x2", None, (("home", win), ("draw", draw), ("away", lose))))
        else:
            # Level after regulation goes to overtime or a shootout: close to a coin flip.
            p_home = win + draw * 0.52
            markets.append(TrueMarket("moneyline", None, (("home", p_home), ("away", 1.0 - p_home))))
        if self.total:
            scored = sum(self.goals)
            remaining = poisson_pmf(lam_home + lam_away, 30)

            def p_over(line: Decimal) -> float:
                need = math.floor(float(line)) - scored + 1
                return 1.0 - sum(remaining[: max(need, 0)])

            line = self.total_line
            if line is None or line < scored or not 0.3 <= p_over(line) <= 0.7:
                # The main line is the hook whose over is closest to even money.
                line = min(
                    (Decimal(scored + n) + Decimal("0.5") for n in range(15)), key=lambda k: abs(p_over(k) - 0.5)
                )
            self.total_line = line
            over = p_over(line)
            markets.append(TrueMarket("total", line, (("over", over), ("under", 1.0 - over))))
        return markets


class PointsModel:
    """American football and basketball: a scoring process with normal-approximation prices."""

    def __init__(
        self,
        expected_home: float,
        expected_away: float,
        *,
        sd_margin: float,
        sd_total: float,
        score: Callable[[random.Random], int],
        points_per_score: float,
        suspend_on_score: bool,
    ) -> None:
        self.anchor = [math.log(expected_home), math.log(expected_away)]
        self.log_exp = list(self.anchor)
        self.points = [0, 0]
        self.happened: list[tuple[str, int]] = []
        self.sd_margin = sd_margin
        self.sd_total = sd_total
        self.score = score
        self.points_per_score = points_per_score
        self.suspend_on_score = suspend_on_score
        self.spread_line: Decimal | None = None
        self.total_line: Decimal | None = None

    def drift(self, rng: random.Random, dt: float, live: bool) -> None:
        sigma = 0.0016 if live else 0.0004
        for side in (0, 1):
            self.log_exp[side] = ou_step(rng, self.log_exp[side], self.anchor[side], sigma, dt, _THETA)
        if rng.random() < dt / _NEWS_EVERY[live]:
            self.anchor[rng.randrange(2)] += rng.gauss(0.0, 0.03)

    def play(self, rng: random.Random, df: float) -> bool:
        scored = False
        for side in (0, 1):
            for _ in range(poisson(rng, math.exp(self.log_exp[side]) / self.points_per_score * df)):
                points = self.score(rng)
                self.points[side] += points
                if self.suspend_on_score:
                    # American football's scores are the incidents; basketball's baskets are not.
                    self.happened.append(("touchdown" if points >= 6 else "field_goal", side))
                scored = True
        return scored and self.suspend_on_score

    def scoreboard(self) -> tuple[int, int]:
        return self.points[0], self.points[1]

    def markets(self, f: float) -> list[TrueMarket]:
        rem = max(0.0, 1.0 - f)
        exp_home, exp_away = (math.exp(v) for v in self.log_exp)
        sd_margin = self.sd_margin * math.sqrt(rem) + 0.75
        sd_total = self.sd_total * math.sqrt(rem) + 0.75
        mean_margin = self.points[0] - self.points[1] + (exp_home - exp_away) * rem
        mean_total = sum(self.points) + (exp_home + exp_away) * rem
        p_home = norm_cdf(mean_margin / sd_margin)

        def p_cover(line: Decimal) -> float:
            return norm_cdf((mean_margin + float(line)) / sd_margin)

        def p_over(line: Decimal) -> float:
            return 1.0 - norm_cdf((float(line) - mean_total) / sd_total)

        # Books keep their main line until the price on it drifts well away from even money.
        if self.spread_line is None or not 0.4 <= p_cover(self.spread_line) <= 0.6:
            self.spread_line = _half_point(-mean_margin)
        if self.total_line is None or self.total_line < sum(self.points) or not 0.4 <= p_over(self.total_line) <= 0.6:
            self.total_line = _hook(mean_total)
        cover, over = p_cover(self.spread_line), p_over(self.total_line)
        return [
            TrueMarket("moneyline", None, (("home", p_home), ("away", 1.0 - p_home))),
            TrueMarket("spread", self.spread_line, (("home", cover), ("away", 1.0 - cover))),
            TrueMarket("total", self.total_line, (("over", over), ("under", 1.0 - over))),
        ]


class TennisModel:
    """Tennis: a Brownian match score where breaks of serve are the jumps."""

    def __init__(self, p_home: float) -> None:
        self.anchor = norm_ppf(p_home)
        self.edge = self.anchor
        self.swing = 0.0
        self.breaks = [0, 0]
        self.happened: list[tuple[str, int]] = []

    def drift(self, rng: random.Random, dt: float, live: bool) -> None:
        self.edge = ou_step(rng, self.edge, self.anchor, 0.02 if live else 0.0025, dt, _THETA)

    def play(self, rng: random.Random, df: float) -> bool:
        # About ten breaks a match, each worth a third of the outcome's uncertainty.
        for _ in range(poisson(rng, 10.0 * df)):
            towards_home = rng.random() < norm_cdf(self.edge)
            self.swing += (1.0 if towards_home else -1.0) * abs(rng.gauss(0.32, 0.08))
            side = 0 if towards_home else 1
            self.breaks[side] += 1
            self.happened.append(("break_of_serve", side))
        return False

    def scoreboard(self) -> tuple[int, int]:
        """Breaks of serve won: the demo plays no games or sets, only the swings they cause."""
        return self.breaks[0], self.breaks[1]

    def markets(self, f: float) -> list[TrueMarket]:
        rem = max(0.0, 1.0 - f)
        p_home = norm_cdf((self.swing + self.edge * rem) / (math.sqrt(rem) + 0.05))
        return [TrueMarket("moneyline", None, (("home", p_home), ("away", 1.0 - p_home)))]


def _nfl_score(rng: random.Random) -> int:
    return 7 if rng.random() < 0.6 else 3


def _nba_score(rng: random.Random) -> int:
    return 3 if rng.random() < 0.3 else 2


def make_model(rng: random.Random, league: League, home: Team, away: Team) -> Model:
    """The true-probability model of a new matchup, from the teams' ratings and a little form."""
    edge = home.rating - away.rating + rng.gauss(0.0, 0.1)
    if league.sport == "football":
        return GoalsModel(1.45 * math.exp(0.55 * edge), 1.15 * math.exp(-0.55 * edge), three_way=True, total=False)
    if league.sport == "ice_hockey":
        return GoalsModel(3.15 * math.exp(0.25 * edge), 2.95 * math.exp(-0.25 * edge), three_way=False, total=True)
    if league.sport == "american_football":
        margin, total = 2.0 + 7.0 * edge, rng.uniform(40.0, 50.0)
        return PointsModel(
            (total + margin) / 2,
            max((total - margin) / 2, 6.0),
            sd_margin=13.5,
            sd_total=10.0,
            score=_nfl_score,
            points_per_score=5.4,
            suspend_on_score=True,
        )
    if league.sport == "basketball":
        margin, total = 2.5 + 10.0 * edge, rng.uniform(215.0, 238.0)
        return PointsModel(
            (total + margin) / 2,
            (total - margin) / 2,
            sd_margin=12.5,
            sd_total=16.0,
            score=_nba_score,
            points_per_score=2.3,
            suspend_on_score=False,
        )
    if league.sport == "tennis":
        return TennisModel(min(max(1.0 / (1.0 + math.exp(-1.8 * edge)), 0.06), 0.94))
    raise ValueError(f"no demo model for sport {league.sport!r}")


# -- events ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class SimEvent:
    """One demo event: who plays, when, its status, and the model behind its true prices."""

    key: int
    league: League
    home: Team
    away: Team
    start: datetime
    live_seconds: float
    model: Model
    status: Status = "scheduled"
    finished_at: datetime | None = None
    suspended_until: datetime | None = None
    progress: float = 0.0  # the share of the match played, 0..1
    # (type, side, period, clock, when): what happened in play, the latest MAX_INCIDENTS.
    incidents: list[tuple[str, str, str, str, datetime]] = field(default_factory=list)

    @property
    def sport(self) -> str:
        return self.league.sport

    def advance(self, rng: random.Random, now: datetime, dt: float) -> None:
        if self.status == "finished":
            return
        if self.status == "scheduled" and now >= self.start:
            self.status = "live"
            # Books pull their prices at kick-off and reopen with in-play ones a few seconds later.
            self.suspended_until = now + timedelta(seconds=rng.uniform(3.0, 6.0))
        if self.status == "live":
            played = min((now - self.start).total_seconds() / self.live_seconds, 1.0)
            if played >= 1.0:
                self.status, self.finished_at, self.progress = "finished", now, 1.0
                return
            if played > self.progress and self.model.play(rng, played - self.progress):
                self.suspended_until = now + timedelta(seconds=rng.uniform(5.0, 12.0))
            self.progress = max(self.progress, played)
            period, clock = self.moment()
            for kind, side in self.model.happened:
                self.incidents.append((kind, "home" if side == 0 else "away", period, clock, now))
            self.model.happened.clear()
            del self.incidents[:-MAX_INCIDENTS]
        self.model.drift(rng, dt, self.status == "live")

    def moment(self) -> tuple[str, str]:
        """(period, clock) as the sport says them, from the share of the match played."""
        periods, minutes, countdown = _PERIODS[self.sport]
        if not periods:
            return "set 1" if self.progress < 0.5 else "set 2", ""
        index = min(int(self.progress * len(periods)), len(periods) - 1)
        into = self.progress * len(periods) - index
        if countdown:
            left = max(0.0, (1.0 - into) * minutes)
            return periods[index], f"{int(left):02d}:{int(left * 60) % 60:02d}"
        played = (index + into) * minutes
        return periods[index], f"{int(played)}:{int(played * 60) % 60:02d}"

    def state(self) -> dict[str, object] | None:
        """The match state on the wire (`feeds.match_wire`), once the event is live."""
        if self.status == "scheduled":
            return None
        home, away = self.model.scoreboard()
        period, clock = self.moment()
        return {
            "score": {"home": home, "away": away},
            "period": period,
            "clock": clock or None,
            "incidents": [
                {
                    "id": f"{self.key}-{n}",
                    "type": kind,
                    "team": team,
                    "period": at_period,
                    "clock": at_clock or None,
                }
                for n, (kind, team, at_period, at_clock, _) in enumerate(self.incidents)
            ],
        }

    def markets(self, now: datetime) -> list[TrueMarket]:
        """The true markets now; in play, suspended after a score and once the outcome is decided."""
        live = self.status == "live"
        paused = live and self.suspended_until is not None and now < self.suspended_until
        result: list[TrueMarket] = []
        for market in self.model.markets(self.progress):
            decided = live and max(p for _, p in market.probs) > DECIDED
            result.append(TrueMarket(market.kind, market.line, _bounded(market.probs), paused or decided))
        return result


MAX_INCIDENTS = 30
# Per sport: its periods, their length in minutes, and whether its clock counts down; tennis has
# sets and no clock.
_PERIODS: dict[str, tuple[tuple[str, ...], float, bool]] = {
    "football": (("1H", "2H"), 45.0, False),
    "ice_hockey": (("P1", "P2", "P3"), 20.0, True),
    "american_football": (("Q1", "Q2", "Q3", "Q4"), 15.0, True),
    "basketball": (("Q1", "Q2", "Q3", "Q4"), 12.0, True),
    "tennis": ((), 0.0, False),
}


def _bounded(probs: tuple[tuple[str, float], ...]) -> tuple[tuple[str, float], ...]:
    clipped = [(o, min(max(p, PROB_FLOOR), PROB_CEILING)) for o, p in probs]
    total = sum(p for _, p in clipped)
    return tuple((o, p / total) for o, p in clipped)


@dataclass(slots=True)
class World:
    """The ~40 demo events: finished ones give way to new scheduled ones in the same league."""

    rng: random.Random
    teams: dict[str, list[Team]]
    leagues: tuple[League, ...] = LEAGUES
    events: list[SimEvent] = field(default_factory=list)
    _next_key: int = 1
    _pairs: set[tuple[str, str, date]] = field(default_factory=set)

    def populate(self, now: datetime) -> None:
        for league in self.leagues:
            for _ in range(min(league.events, len(self.teams.get(league.name, [])) // 2)):
                self._spawn(league, now, initial=True)

    def advance(self, now: datetime, dt: float) -> None:
        for event in list(self.events):
            event.advance(self.rng, now, dt)
            if event.finished_at is not None and (now - event.finished_at).total_seconds() >= LINGER_SECONDS:
                self.events.remove(event)
                self._spawn(event.league, now, initial=False)

    def _spawn(self, league: League, now: datetime, *, initial: bool) -> None:
        busy = {team.slug for e in self.events if e.league.sport == league.sport for team in (e.home, e.away)}
        free = [t for t in self.teams.get(league.name, []) if t.slug not in busy]
        if len(free) < 2:
            return
        live_seconds = self.rng.uniform(*league.live_seconds)
        start = self._start(now, live_seconds, initial)
        elapsed = (now - start).total_seconds()
        played = 0.0
        if elapsed > 0.0:
            # Kick-offs fall on whole minutes, which can put more behind us than asked for.
            live_seconds = max(live_seconds, elapsed / 0.8)
            played = elapsed / live_seconds
        for _ in range(10):
            home, away = self.rng.sample(free, 2)
            # Event ids are slug pairs plus the date: never the same pair twice on one day.
            if (home.slug, away.slug, start.date()) not in self._pairs:
                break
        else:
            return
        self._pairs.add((home.slug, away.slug, start.date()))
        event = SimEvent(
            self._next_key, league, home, away, start, live_seconds, make_model(self.rng, league, home, away)
        )
        self._next_key += 1
        if played > 0.0:
            # Already under way: play the part of the match the viewer missed.
            event.status = "live"
            steps = 20
            for _ in range(steps):
                event.model.play(self.rng, played / steps)
                event.model.drift(self.rng, played * live_seconds / steps, True)
            event.progress = played
        self.events.append(event)

    def _start(self, now: datetime, live_seconds: float, initial: bool) -> datetime:
        """A start time on whole minutes, as kick-offs are: a few under way, most within hours."""
        roll = self.rng.random()
        if initial and roll < 0.15:
            return _floor_minute(now - timedelta(seconds=self.rng.uniform(0.1, 0.7) * live_seconds))
        if roll < 0.6:
            return _ceil_minutes(now + timedelta(minutes=self.rng.uniform(1.0, 20.0)), 1)
        return _ceil_minutes(now + timedelta(minutes=self.rng.uniform(20.0, 180.0)), 5)


def _floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _ceil_minutes(moment: datetime, step: int) -> datetime:
    floored = _floor_minute(moment)
    if floored < moment:
        floored += timedelta(minutes=1)
    return floored + timedelta(minutes=(-floored.minute) % step)
