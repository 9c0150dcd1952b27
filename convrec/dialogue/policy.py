"""Stage 3: ask or recommend. A question is worth asking when its answer splits the candidates.

Candidates are weighted by a softmax of their retrieval scores. The policy recommends when the
user insists, when the question budget (``settings.limits.max_questions``) is spent, when the user
has told ``enough`` things to go on (a constraint, a liked or disliked value, a wish, or an item
liked, disliked, seen or turned down: each counts one; by default one is enough, since a user
refines better from a list than from more questions), when the top ``top_k`` candidates already
hold ``concentration`` of the weight (after the user has told something), or when no
question gains at least ``min_gain`` bits. Otherwise it asks about the attribute with the highest
expected information gain: H(candidates) − Σ_answer P(answer)·H(candidates | answer). Answers are
the ``max_options`` heaviest values plus "something else"; items lacking the attribute stay in
every branch (an answer says nothing about them). An attribute whose options hold less than
``min_coverage`` of the weight is not asked: most users would answer "something else" to four
names out of thousands of directors. Attributes already constrained, preferred or asked are never
asked again. Numbers are asked as three weighted-tertile ranges, in ascending order.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from convrec.catalog.schema import DEFAULT_ROLES, AttributeRoles
from convrec.dialogue.state import DialogueState
from convrec.types import Item

if TYPE_CHECKING:
    from convrec.config import Settings

Scored = tuple[Item, float]
# Attributes that make poor questions (ids, prose, popularity counts, long lists of people): the
# catalog's ``never_ask`` role (the facade passes it); these defaults serve a bare ``Policy()``.
SKIP = frozenset(DEFAULT_ROLES["never_ask"]) | {"title"}


@dataclass(frozen=True)
class Decision:
    """What to do this turn: ``ask`` (attribute + options), ``recommend``, ``clarify`` which of
    ``item_ids`` the user meant, or ``answer`` about ``item_ids`` (ask_item / compare)."""

    action: Literal["ask", "recommend", "clarify", "answer"]
    reason: str
    attribute: str | None = None
    options: tuple[str, ...] = ()
    item_ids: tuple[str, ...] = ()
    gain: float = 0.0
    exhaustive: bool = False  # the options cover every candidate: no "something else"


def _labels(item: Item, attribute: str, cuts: tuple[float, float] | None) -> tuple[str, ...]:
    value = item.category if attribute == "category" else item.attributes.get(attribute)
    if value is None or value == "" or isinstance(value, bool):
        return () if value is None or value == "" else (str(value).lower(),)
    if isinstance(value, tuple):
        return value
    if isinstance(value, int | float) and cuts is not None:
        lo, hi = cuts
        if value < lo:
            return (f"under {lo:g}",)
        return (f"{hi:g} or more",) if value >= hi else (f"{lo:g} to under {hi:g}",)
    return (str(value),)


def _cuts(weights: list[float], items: Sequence[Item], attribute: str) -> tuple[float, float]:
    """Two cut points: the next distinct values after the weighted 1/3 and 2/3 quantiles."""
    pairs = sorted(
        (float(v), w)
        for it, w in zip(items, weights, strict=True)
        if isinstance(v := it.attributes.get(attribute), int | float) and not isinstance(v, bool)
    )
    distinct = sorted({v for v, _ in pairs})
    total, acc = sum(w for _, w in pairs), 0.0
    cuts: list[float] = []
    for v, w in pairs:
        acc += w
        if len(cuts) < 2 and acc >= total * (len(cuts) + 1) / 3:
            cuts.append(next((d for d in distinct if d > v), distinct[-1]))
    cuts += [distinct[-1]] * (2 - len(cuts))
    return cuts[0], cuts[1]


def _entropy(weights: Sequence[float]) -> float:
    total = sum(weights)
    return -sum(w / total * math.log2(w / total) for w in weights if w > 0) if total > 0 else 0.0


def info_gain(
    items: Sequence[Item],
    weights: Sequence[float],
    attribute: str,
    max_options: int = 4,
    min_coverage: float = 0.0,
) -> tuple[float, tuple[str, ...]]:
    """Expected bits gained by asking ``attribute``, and the options to offer (heaviest first;
    number ranges in ascending order). No gain and no options when the options hold less than
    ``min_coverage`` of the weight."""
    gain, options, _ = _question(items, weights, attribute, max_options, min_coverage)
    return gain, options


def _question(
    items: Sequence[Item],
    weights: Sequence[float],
    attribute: str,
    max_options: int,
    min_coverage: float,
) -> tuple[float, tuple[str, ...], bool]:
    """:func:`info_gain`, and whether the options cover every value (no "something else")."""
    w = list(weights)
    numeric = any(
        isinstance(it.attributes.get(attribute), int | float)
        and not isinstance(it.attributes.get(attribute), bool)
        for it in items
    )
    cuts = _cuts(w, items, attribute) if numeric else None
    labels = [_labels(it, attribute, cuts) for it in items]
    mass: dict[str, float] = defaultdict(float)
    for ls, wi in zip(labels, w, strict=True):
        for label in ls:
            mass[label] += wi / len(ls)
    ranked = sorted(mass, key=lambda v: (-mass[v], v))
    if len(ranked) < 2:
        return 0.0, (), False
    options = tuple(ranked[:max_options])
    rest = set(ranked[max_options:])
    answers = [({o}, mass[o]) for o in options]
    if rest:
        answers.append((rest, sum(mass[v] for v in rest)))
    total = sum(m for _, m in answers)
    if total <= 0 or sum(mass[o] for o in options) < min_coverage * total:
        return 0.0, (), False
    if cuts is not None:
        options = tuple(sorted(options, key=_range_order))
    expected = 0.0
    for values, m in answers:
        branch = [wi for ls, wi in zip(labels, w, strict=True) if not ls or values & set(ls)]
        expected += m / total * _entropy(branch)
    return _entropy(w) - expected, options, not rest


def _range_order(label: str) -> int:
    return 0 if label.startswith("under ") else 2 if label.endswith(" or more") else 1


def told(state: DialogueState) -> int:
    """How many things the user has told us to go on: their taste (``state.evidence()``),
    constraints beyond the category, and seen and turned-down items."""
    narrowing = [c for c in state.constraints if c.attribute != "category"]
    return state.evidence() + len(narrowing) + len(state.seen_items) + len(state.rejected)


@dataclass(frozen=True)
class Policy:
    """The ask-or-recommend rules; see the module docstring for what each threshold does."""

    max_questions: int = 3
    top_k: int = 5
    concentration: float = 0.6
    min_gain: float = 0.1
    temperature: float = 0.05
    max_options: int = 4
    enough: int = 1
    min_coverage: float = 0.3
    skip: frozenset[str] = SKIP

    @classmethod
    def from_settings(
        cls, settings: Settings, roles: AttributeRoles | None = None, **overrides: Any
    ) -> Policy:
        """The budget and list size from ``settings.limits``, the attributes never asked about
        from the catalog's ``roles``; thresholds from ``overrides``."""
        limits = settings.limits
        if roles is not None:
            overrides.setdefault("skip", roles.never_ask | {"title"})
        return cls(max_questions=limits.max_questions, top_k=limits.recommendations, **overrides)

    def weights(self, scores: Sequence[float]) -> list[float]:
        """Softmax of the scores at ``temperature`` (sharper for smaller values), widened to
        the scores' standard deviation when that is larger: how concentrated the candidates
        are must not depend on the scale of the fusion method's scores."""
        top = max(scores, default=0.0)
        n = max(len(scores), 1)
        mean = sum(scores) / n
        spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / n)
        temperature = max(self.temperature, spread)
        exp = [math.exp((s - top) / temperature) for s in scores]
        total = sum(exp)
        return [e / total for e in exp]

    def decide(self, state: DialogueState, candidates: Sequence[Scored]) -> Decision:
        """Ask about the most informative attribute, or recommend (see the module docstring)."""
        if state.ambiguous:
            return Decision("clarify", "a title matched several items", item_ids=state.ambiguous)
        if state.intent in ("ask_item", "compare") and state.mentioned:
            return Decision("answer", f"the user asked ({state.intent})", item_ids=state.mentioned)
        if state.insist:
            return Decision("recommend", "the user asked for recommendations")
        if state.question_count >= self.max_questions:
            return Decision("recommend", f"question budget spent ({self.max_questions})")
        if len(candidates) <= self.top_k:
            return Decision("recommend", "few candidates left")
        n = told(state)
        if n >= max(self.enough, 1):
            return Decision("recommend", f"the user told {n} thing(s) to go on")
        items = [it for it, _ in candidates]
        w = self.weights([s for _, s in candidates])
        top = sum(sorted(w, reverse=True)[: self.top_k])
        # At a cold start (nothing said beyond "a phone") the ranking is only the popularity
        # prior, however concentrated its scores look: ask first.
        if top >= self.concentration and (n > 0 or self.enough == 0):
            return Decision("recommend", f"top {self.top_k} hold {top:.0%} of the weight")
        best: tuple[float, str, tuple[str, ...], bool] | None = None
        for attr in self.askable(state, items):
            gain, options, exhaustive = _question(
                items, w, attr, self.max_options, self.min_coverage
            )
            if len(options) >= 2 and (best is None or gain > best[0]):
                best = (gain, attr, options, exhaustive)
        if best is None or best[0] < self.min_gain:
            return Decision("recommend", "no question would split the candidates")
        gain, attr, options, exhaustive = best
        return Decision("ask", f"splits the candidates ({gain:.2f} bits)", attribute=attr,
                        options=options, gain=gain, exhaustive=exhaustive)  # fmt: skip

    def askable(self, state: DialogueState, items: Sequence[Item]) -> list[str]:
        """Attributes present on the candidates, minus skipped, known and already asked ones."""
        names = {a for it in items for a in it.attributes}
        if len({it.category for it in items if it.category}) > 1:
            names.add("category")
        blocked = self.skip | state.known_attributes() | set(state.asked)
        return sorted(names - blocked)


def explore(
    candidates: Sequence[Scored],
    state: DialogueState,
    *,
    mode: Literal["off", "thompson", "epsilon"] = "thompson",
    seed: int = 0,
    weight: float = 0.05,
    epsilon: float = 0.1,
    top_k: int = 5,
) -> list[Scored]:
    """Re-rank candidates to test uncertain preferences; seeded by ``(seed, state.turns)``.

    Evidence for an item counts its attribute values the user liked (a liked value, or one shared
    with a liked item) as ``pos`` and those disliked or shared with rejected items as ``neg``.

    - ``thompson``: score + ``weight``·θ with θ ~ Beta(1+pos, 1+neg). Well-evidenced items move
      little around their mean; items nothing is known about draw from Beta(1, 1), so now and
      then one of them rises into the top: that tests a preference the user has not stated.
    - ``epsilon``: with probability ``epsilon``, the last of the ``top_k`` slots goes to the
      candidate below the top with the least evidence.
    - ``off``: candidates unchanged (sorted by score).
    """
    ranked = sorted(candidates, key=lambda c: -c[1])
    if mode == "off" or not ranked:
        return ranked
    rng = random.Random(f"{seed}:{state.turns}")
    pos, neg = _evidence(state, ranked)

    def counts(it: Item) -> tuple[int, int]:
        keys = {(a, str(v)) for a, val in it.attributes.items() for v in _as_tuple(val)}
        return len(keys & pos), len(keys & neg)

    if mode == "thompson":
        scored = []
        for it, s in ranked:
            p, n = counts(it)
            scored.append((it, s + weight * rng.betavariate(1 + p, 1 + n)))
        return sorted(scored, key=lambda c: -c[1])
    if len(ranked) > top_k and rng.random() < epsilon:
        rest = ranked[top_k:]
        pick = min(rest, key=lambda c: (sum(counts(c[0])), -c[1]))
        rest.remove(pick)
        return [*ranked[: top_k - 1], pick, ranked[top_k - 1], *rest]
    return ranked


def _as_tuple(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else (value,)


def _evidence(
    state: DialogueState, ranked: Sequence[Scored]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    by_id = {it.id: it for it, _ in ranked}
    pos = {(p.attribute, p.value) for p in state.liked}
    neg = {(p.attribute, p.value) for p in state.disliked}
    for ids, bucket in ((state.liked_items, pos), ((*state.rejected, *state.disliked_items), neg)):
        for i in ids:
            if i in by_id:
                it = by_id[i]
                bucket |= {(a, str(v)) for a, val in it.attributes.items() for v in _as_tuple(val)}
    return pos, neg


__all__ = ["Decision", "Policy", "explore", "info_gain"]
