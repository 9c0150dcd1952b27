"""Stage 4: turn what the user asked for into one Query per retrieval channel."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from convrec.dialogue.state import DialogueState, Pref, to_where
from convrec.types import Query

if TYPE_CHECKING:
    from convrec.config import FusionSettings

# Which collections a source can meet: text queries reach the sentence-transformer channel and,
# through the image–text model, the item images and the CLIP text of items; an image query reaches
# the same two CLIP channels.
TEXT_ROUTES = (("text", "text"), ("clip_text>image", "image"), ("clip_text>clip_text", "clip_text"))
IMAGE_ROUTES = (("image>image", "image"), ("image>clip_text", "clip_text"))


def build_queries(
    text: str = "",
    image: str | None = None,
    where: dict[str, object] | None = None,
    weights: Mapping[str, float] | None = None,
    channels: frozenset[str] = frozenset({"text", "image", "clip_text"}),
) -> tuple[Query, ...]:
    """Queries for a free-text wish and/or an example image, on the channels the index has.

    ``weights`` maps a query name (see TEXT_ROUTES / IMAGE_ROUTES) to its fusion weight; names
    left out weigh 1.0. A weight of 0 drops the query.
    """
    weights = weights or {}
    out: list[Query] = []
    text = text.strip()
    if text:
        for name, channel in TEXT_ROUTES:
            if channel in channels and weights.get(name, 1.0) > 0:
                out.append(Query(name, channel, text=text, where=where, weight=_w(weights, name)))
    if image:
        for name, channel in IMAGE_ROUTES:
            if channel in channels and weights.get(name, 1.0) > 0:
                out.append(Query(name, channel, image=image, where=where, weight=_w(weights, name)))
    return tuple(out)


def _w(weights: Mapping[str, float], name: str) -> float:
    return float(weights.get(name, 1.0))


def _channel(wanted: str, channels: frozenset[str]) -> str | None:
    """``wanted`` when indexed, else the ``text`` channel (an index built before ``content``
    existed), else None."""
    if wanted in channels:
        return wanted
    return "text" if "text" in channels else None


# Words that make a wish visual: it then also goes to the image–text model, which has seen
# pictures ("a white phone", "something dark and moody", "a colourful poster").
_VISUAL = """white black red blue green yellow orange pink purple violet brown grey gray silver gold
    golden beige navy teal colour color colours colors colourful colorful dark bright light pale
    shiny matte glossy metallic neon pastel vivid moody gloomy sunny looks look looking style
    stylish design designed sleek slim thin thick round square curved retro vintage minimalist
    elegant cute poster photo picture image shade tone"""
VISUAL_WORDS = frozenset(_VISUAL.split())
ITEM_ROUTE = "like:{item_id}>{channel}"  # query name of an item-to-item route
# The context routes again, on the titled ``text`` channel: a franchise or a named film the
# user talks about ("the Avengers movies") is in titles, not in the content text.
TITLED_CONTEXT = "context>text"


def is_visual(wish: str) -> bool:
    """True when a wish talks about how something looks (colour, style, mood of the picture)."""
    return any(w in VISUAL_WORDS for w in re.findall(r"[a-z]+", wish.lower()))


def describe_preferences(state: DialogueState) -> str:
    """The soft preferences, positive hard constraints and wishes as readable text, e.g.
    ``"Comedy, Animation. director: Pete Docter. something for the kids"``.

    Dislikes and exclusions stay out: a sentence encoder reads "not horror" as close to horror.
    They act through the ``where`` filter and the rerank penalty instead.
    """
    values: dict[str, list[str]] = {}
    for p in state.liked:
        values.setdefault(p.attribute, []).append(p.value)
    for c in state.constraints:
        if c.op in ("eq", "in") and not isinstance(c.value, bool):
            values.setdefault(c.attribute, []).extend(str(v) for v in c.values())
    parts = []
    for attribute, vals in values.items():
        vals = list(dict.fromkeys(vals))
        if attribute in BARE_ATTRIBUTES:
            parts.append(", ".join(vals))
        else:
            parts.append(f"{attribute.replace('_', ' ')}: {', '.join(vals)}")
    parts.extend(w.strip() for w in state.wishes if w.strip())
    return ". ".join(parts)


# Attributes whose values read well on their own ("Comedy", "Sony") in a text query.
BARE_ATTRIBUTES = frozenset({"genres", "genre", "category", "maker", "brand", "os"})


def queries_from_state(
    state: DialogueState,
    catalog: str,
    channels: frozenset[str] | Iterable[str],
    settings: FusionSettings,
    image: str | None = None,
    *,
    flagged: Collection[str] | None = None,
    ids: tuple[str, ...] | None = None,
    where: bool = True,
    context: Sequence[tuple[str, float]] = (),
    derived: Collection[str] = (),
) -> tuple[Query, ...]:
    """One Query per channel route for the dialogue state, each carrying the hard constraints:
    the ``where`` of :func:`~convrec.dialogue.state.to_where` (``flagged``: the list attributes the
    index flags; left out with ``where=False``) and the allowed ``ids`` (constraints the caller
    evaluated itself).

    - ``text``: the soft preferences and wishes as text (:func:`describe_preferences`), on the
      ``content`` channel when indexed (item text without titles: request words cannot match a
      title), else on ``text``;
    - ``context``, ``context-1`` …: the user's recent messages (``context``: cleaned text and
      weight per message, newest first, see :func:`context_parts`) on
      ``settings.context_channel``, for what the conversation is about beyond the extracted
      preferences (not with an image: the photo is then what "this" refers to); with weight
      ``context>text`` also on the titled ``text`` channel (``context>text``, ``context-1>text``);
    - ``cf``: the liked items' neighbours in the collaborative model (channel ``cf``; the
      retriever asks the model, not the vector store);
    - ``clip_text>image`` / ``clip_text>clip_text``: the visual wishes and the liked values of
      ``derived`` attributes (read from photos: "red"), for the image–text model;
    - ``like:<id>><channel>``: each liked item's own stored vector (never its re-embedded title)
      on every channel it is indexed in, weight ``settings.item_weights[channel] / n``;
    - ``image>image`` / ``image>clip_text``: an uploaded photo.

    With nothing to go on (only constraints, or a cold start) the text query falls back to the
    catalog name, so the filtered catalog is still ranked (the popularity prior then leads).
    Seen, rejected and disliked items cannot be excluded by a Chroma ``where`` (it filters
    metadata, not ids); the caller over-fetches and drops ``state.hidden_items()``.
    """
    channels = frozenset(channels)
    where_ = to_where(state, flagged) if where else None
    weights = settings.weights
    out: list[Query] = []
    text = describe_preferences(state)
    liked = state.liked_items[-settings.max_item_queries :] if settings.max_item_queries else ()
    if not text and not liked and not image:
        text = catalog
    text_channel = _channel(settings.text_channel, channels)
    if text and text_channel and weights.get("text", 1.0) > 0:
        w = _w(weights, "text")
        out.append(Query("text", text_channel, text, where=where_, weight=w, ids=ids))
    context_channel = _channel(settings.context_channel, channels)
    titled = weights.get(TITLED_CONTEXT, 0.0)
    routes = [(context_channel, "", weights.get("context", 0.0))]
    if context_channel != "text" and "text" in channels and titled > 0:
        routes.append(("text", ">text", titled))
    for channel, suffix, weight in routes:
        if not channel or image or weight <= 0:  # with a photo, "more like this" means it
            continue
        for age, (said, share) in enumerate(context):
            name = ("context" if age == 0 else f"context-{age}") + suffix
            w = weight * share
            out.append(Query(name, channel, said, where=where_, weight=w, ids=ids))
    if liked and "cf" in channels and weights.get("cf", 0.0) > 0:
        out.append(Query("cf", "cf", items=liked, where=where_, weight=weights["cf"], ids=ids))
    looks = [p.value for p in state.liked if p.attribute in derived]
    visual = ". ".join([*looks, *(w.strip() for w in state.wishes if is_visual(w))])
    if visual:
        for name, channel in TEXT_ROUTES[1:]:
            if channel in channels and weights.get(name, 1.0) > 0:
                w = _w(weights, name)
                out.append(Query(name, channel, text=visual, where=where_, weight=w, ids=ids))
    for wanted, w in settings.item_weights.items():
        channel = _channel(wanted, channels) if wanted == "content" else wanted
        if channel not in channels or w <= 0:
            continue
        for item_id in liked:
            name = ITEM_ROUTE.format(item_id=item_id, channel=channel)
            out.append(
                Query(name, channel, item_id=item_id, where=where_, weight=w / len(liked), ids=ids)
            )
    if image:
        imgs = build_queries(image=image, where=where_, weights=weights, channels=channels)
        out.extend(replace(q, ids=ids) for q in imgs)
    return tuple(out)


# Words that point at shown items or carry no topic: a message made only of these ("not the
# first one", "yes, thanks", "show me more") says nothing about what to look for, so it adds
# no context query and does not push the earlier request aside.
_REFERENCE = re.compile(
    r"\b(?:the\s+)?(?:first|second|third|fourth|fifth|last|other|previous|next|1st|2nd|3rd|4th|5th)"
    r"(?:\s+(?:one|ones|item|movie|film|phone|two|three))?\b|\b(?:that|this|these|those)\s+ones?\b"
    r"|\bnumber\s+\d\b",
    re.IGNORECASE,
)
_FILLER_WORDS = """a an the and or but not no nor yes yeah yep ok okay sure thanks thank you please
    pls i i'm im me my we us it its it's that this these those them they one
    ones some any more less other another like likes liked love loved want wants
    wanted something anything show give find get see seen watch watched
    recommend suggest maybe just really very so too also what which who how
    about with without for of to in on at by from is are was were be been do
    does did don't can could would should will have has had got gonna wanna let
    let's good great nice cool fine well right ah oh hmm hi hello hey there here
    now then than movie movies film films phone phones one item items thing
    things same similar vein else ideally preferably made released after before
    under over since older newer later earlier least most i've ive his her hers their
    theirs different someone somebody actor actress lead she's he's shes hes times hundred
    twice once already"""
_FILLER = frozenset(_FILLER_WORDS.split())


def context_parts(
    user_messages: Sequence[str],
    titles: Iterable[str],
    settings: FusionSettings,
    *,
    fresh: int | None = None,
) -> list[tuple[str, float]]:
    """The text and weight of each recent user message for the ``context`` routes, newest
    first: ``settings.context_turns`` messages, the newest weighing 1 and each earlier one
    ``settings.context_decay`` times the next. Messages older than the ``fresh`` newest ones
    (said before the user last changed the subject) are further scaled by
    ``settings.context_shift``: the request that follows a new "I loved X" is about X, not
    about the turns before.

    Named ``titles`` (items the dialogue resolved) and position or reference words ("the first
    one") are cut out: the item routes carry the named items, and no text route should match a
    title or the word "one". A message with fewer than ``settings.context_min_words`` topic
    words left adds nothing and is not counted.
    """
    if settings.context_turns <= 0:
        return []
    names = sorted({t.strip() for t in titles if len(t.strip()) > 1}, key=len, reverse=True)
    # whole words only: the film "It" is no part of "excited"
    alts = "|".join(re.escape(n) for n in names)
    title_re = re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.IGNORECASE) if names else None
    out: list[tuple[str, float]] = []
    weight = 1.0
    for age, message in enumerate(reversed(user_messages)):
        text = title_re.sub(" ", message) if title_re else message
        text = re.sub(r"\s+", " ", _REFERENCE.sub(" ", _unbound(text))).strip(" ,.;:!?")
        if topic_words(text) < settings.context_min_words:
            continue
        shifted = fresh is not None and age >= fresh
        share = weight * (settings.context_shift if shifted else 1.0)
        if share <= 0:
            break
        out.append((text, share))
        if len(out) == settings.context_turns:
            break
        weight *= settings.context_decay
    return out


@dataclass(frozen=True)
class DialogueContext:
    """What the ranking takes from the user's own words, beyond the dialogue state.

    - ``parts``: text and weight of each recent user message, newest first (the ``context``
      routes; see :func:`context_parts`);
    - ``obscure``: the user asked for little-known items (:func:`wants_obscure`);
    - ``stale``: liked values stated before the user changed the subject (a new liked item or
      value); the match route and the preference term weigh them ``context_shift`` times.
    """

    parts: tuple[tuple[str, float], ...] = ()
    obscure: bool = False
    stale: frozenset[Pref] = frozenset()


def dialogue_context(
    said: Sequence[str],
    state: DialogueState,
    title_of: Callable[[str], str | None],
    settings: FusionSettings,
) -> DialogueContext:
    """The :class:`DialogueContext` of the user's messages ``said`` (oldest first, the last one
    being the state's latest turn), with every item the dialogue named and every value it ruled
    out cut out of the text."""
    named = (*state.liked_items, *state.disliked_items, *state.rejected, *state.mentioned,
             *state.seen_items)  # fmt: skip
    titles = [t for t in (title_of(i) for i in named) if t]
    # values ruled out ("no horror", "not by Wes Anderson") would pull their like into a text
    # route: the constraint carries them
    titles += [v for c in state.constraints if c.op in ("ne", "nin") for v in c.values()
               if isinstance(v, str)]  # fmt: skip
    fresh = state.turns - state.subject_turn + 1 if state.subject_turn else None
    parts = context_parts(said, titles, settings, fresh=fresh)
    obscure = any(wants_obscure(m) for m in said)
    return DialogueContext(tuple(parts), obscure, frozenset(state.stale))


def _unbound(text: str) -> str:
    """``text`` without its numeric bounds ("after 2000", "under 90 minutes"): the constraints
    carry them, and a number matches no topic (it found documentaries that name a year)."""
    from convrec.dialogue.numbers import find_bounds

    for b in sorted(find_bounds(text), key=lambda b: b.start, reverse=True):
        text = text[: b.start] + " " + text[b.end :]
    return text


def topic_words(text: str) -> int:
    """How many words of ``text`` are beyond reference, feedback and filler words."""
    words = re.findall(r"[a-z][a-z']+", _REFERENCE.sub(" ", text).lower())
    return sum(w not in _FILLER for w in words)


def topical(text: str) -> bool:
    """True when ``text`` holds a word beyond reference, feedback and filler words."""
    return topic_words(text) > 0


_OBSCURE = re.compile(
    r"hidden gems?|obscure|underrated|under-rated|less(?:er)?[- ](?:well[- ])?known"
    r"|little[- ]known|cult classic"
    r"|(?:haven'?t|have not|never|not) (?:yet )?heard of|off the beaten|not (?:too |so |very )?"
    r"(?:mainstream|popular|famous|well[- ]known|known)|nothing (?:too )?(?:mainstream|popular)",
    re.IGNORECASE,
)


def wants_obscure(message: str) -> bool:
    """True when the user asks for little-known items ("hidden gems", "something I haven't
    heard of"): the quality prior then favours the less known among the well rated."""
    return bool(_OBSCURE.search(message))
