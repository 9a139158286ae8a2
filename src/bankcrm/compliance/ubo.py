"""Beneficial ownership of an organisation, through chains of ownership, and its graph.

Ownership is read from ``customers.Relationship`` rows of type ``beneficial_owner``:
"``party_from`` owns ``ownership_pct`` % of ``party_to``" (ended rows are ignored);
organisations may own organisations.

**Method.** An owner's effective share of the organisation is the sum, over every *simple*
ownership path from the owner to the organisation, of the product of the percentages along the
path. A path is simple when no party appears on it twice: the search walks upwards from the
organisation, and a step to a party already on the current path is not taken. So a cycle
(A owns B, B owns C, C owns A) never loops, and a share that goes round the cycle is not counted
again: each distinct route counts once. Paths are also cut at ``MAX_DEPTH`` levels. This is the
"look-through, each route once" reading used in KYC practice; it differs from the economic
(matrix-inverse) reading only when ownership goes round a cycle, where it stays conservative
and explainable (each path is listed).

Owners whose effective share reaches the threshold (default 25 %) are the beneficial owners;
directors and authorised signatories of the organisation are its control persons.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MAX_DEPTH = 10
# A guard against pathological graphs: at most this many paths are enumerated per owner search.
MAX_PATHS = 10_000
HUNDRED = Decimal(100)
CONTROL_TYPES = ("director", "authorised_signatory")


@dataclass
class UboOwner:
    """A party holding a direct or indirect share of the organisation."""

    party_id: str
    name: str
    kind: str
    country: str
    direct_pct: Decimal
    effective_pct: Decimal
    depth: int
    paths: list[list[str]]
    is_beneficial_owner: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "party": self.party_id,
            "name": self.name,
            "kind": self.kind,
            "country": self.country,
            "direct_pct": str(self.direct_pct),
            "effective_pct": str(self.effective_pct),
            "depth": self.depth,
            "paths": self.paths,
            "is_beneficial_owner": self.is_beneficial_owner,
        }


@dataclass
class UboResult:
    """The ownership of one organisation: owners, control persons and the graph's edges."""

    party_id: str
    name: str
    threshold: Decimal
    owners: list[UboOwner] = field(default_factory=list)
    control_persons: list[dict[str, Any]] = field(default_factory=list)
    # {"from", "to", "pct"} for every ownership edge reached upwards from the organisation.
    edges: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    max_depth: int = 0
    has_cycle: bool = False

    @property
    def beneficial_owners(self) -> list[UboOwner]:
        return [owner for owner in self.owners if owner.is_beneficial_owner]

    def as_dict(self) -> dict[str, Any]:
        return {
            "party": self.party_id,
            "name": self.name,
            "threshold": str(self.threshold),
            "max_depth": self.max_depth,
            "has_cycle": self.has_cycle,
            "owners": [owner.as_dict() for owner in self.owners],
            "beneficial_owners": [owner.party_id for owner in self.beneficial_owners],
            "control_persons": self.control_persons,
            "edges": [{**edge, "pct": str(edge["pct"])} for edge in self.edges],
        }


Edges = Mapping[str, list[tuple[str, Decimal]]]


def _round(value: Decimal) -> Decimal:
    # Trailing zeros dropped, never an exponent ("60", not "6E+1").
    return Decimal(
        format(value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize(), "f")
    )


def compute(target: str, owners_of: Edges) -> tuple[dict[str, Decimal], dict[str, Any]]:
    """Effective shares (in %) of every party upstream of ``target``, and facts about the paths.

    ``owners_of[x]`` lists ``(owner, pct)`` of party ``x``. Pure; see the module docstring.
    Returns ``(shares, info)`` with ``info = {"paths": {owner: [[owner, ..., target]]},
    "depth": {owner: longest path}, "max_depth": n, "has_cycle": bool, "edges": set}``.
    """
    shares: dict[str, Decimal] = {}
    paths: dict[str, list[list[str]]] = {}
    depth: dict[str, int] = {}
    edges: set[tuple[str, str, Decimal]] = set()
    has_cycle = False
    counted = 0
    # Depth-first, iteratively: (node, fraction of target held through this path, path).
    stack: list[tuple[str, Decimal, tuple[str, ...]]] = [(target, Decimal(1), (target,))]
    while stack and counted < MAX_PATHS:
        node, fraction, path = stack.pop()
        for owner, pct in owners_of.get(node, ()):
            edges.add((owner, node, pct))
            if owner in path:
                has_cycle = True  # the path would come back on itself: not taken
                continue
            if len(path) > MAX_DEPTH:
                continue
            share = fraction * pct / HUNDRED
            new_path = (owner, *path)
            counted += 1
            shares[owner] = shares.get(owner, Decimal(0)) + share * HUNDRED
            paths.setdefault(owner, []).append(list(new_path))
            depth[owner] = max(depth.get(owner, 0), len(new_path) - 1)
            stack.append((owner, share, new_path))
    return shares, {
        "paths": paths,
        "depth": depth,
        "max_depth": max(depth.values(), default=0),
        "has_cycle": has_cycle,
        "edges": edges,
    }


def ownership_edges(as_of: dt.date | None = None) -> dict[str, list[tuple[str, Decimal]]]:
    """Every current ownership edge of the bank, ``owned -> [(owner, pct)]`` (one query)."""
    from django.db.models import Q

    from bankcrm.core.timefmt import bank_today
    from bankcrm.customers.models import Relationship

    today = as_of or bank_today()
    rows = (
        Relationship.objects.filter(type=Relationship.Type.BENEFICIAL_OWNER)
        .filter(Q(end_on__isnull=True) | Q(end_on__gte=today))
        .filter(Q(start_on__isnull=True) | Q(start_on__lte=today))
        .values_list("party_from_id", "party_to_id", "ownership_pct")
    )
    owners_of: dict[str, list[tuple[str, Decimal]]] = {}
    for owner, owned, pct in rows.iterator(chunk_size=10_000):
        owners_of.setdefault(str(owned), []).append((str(owner), Decimal(pct or 0)))
    return owners_of


def _upstream_edges(party_id: str, as_of: dt.date) -> dict[str, list[tuple[str, Decimal]]]:
    """The ownership edges reachable upwards from one party, level by level (one query each)."""
    from django.db.models import Q

    from bankcrm.customers.models import Relationship

    owners_of: dict[str, list[tuple[str, Decimal]]] = {}
    frontier, seen = {party_id}, {party_id}
    for _level in range(MAX_DEPTH + 1):
        if not frontier:
            break
        rows = (
            Relationship.objects.filter(
                type=Relationship.Type.BENEFICIAL_OWNER, party_to_id__in=frontier
            )
            .filter(Q(end_on__isnull=True) | Q(end_on__gte=as_of))
            .filter(Q(start_on__isnull=True) | Q(start_on__lte=as_of))
            .values_list("party_from_id", "party_to_id", "ownership_pct")
        )
        next_frontier: set[str] = set()
        for owner, owned, pct in rows:
            owners_of.setdefault(str(owned), []).append((str(owner), Decimal(pct or 0)))
            if str(owner) not in seen:
                seen.add(str(owner))
                next_frontier.add(str(owner))
        frontier = next_frontier
    return owners_of


def _party_facts(ids: Iterable[str]) -> dict[str, dict[str, str]]:
    from bankcrm.customers.models import Party

    facts: dict[str, dict[str, str]] = {}
    rows = Party.objects.filter(pk__in=list(ids)).values_list(
        "pk", "display_name", "kind", "person__nationality", "kyc__residence_country"
    )
    for pk, name, kind, nationality, residence in rows:
        facts[str(pk)] = {
            "name": name,
            "kind": kind,
            "country": (residence or nationality or "").upper(),
        }
    return facts


def ownership(
    party_id: Any, *, threshold: Decimal = Decimal("25"), as_of: dt.date | None = None
) -> UboResult:
    """The direct and indirect owners of an organisation, its beneficial owners (effective
    share at or above ``threshold`` %) and its control persons. Reads only; the caller has
    checked that the actor may see the organisation."""
    from django.db.models import Q

    from bankcrm.core.timefmt import bank_today
    from bankcrm.customers.models import Relationship

    target = str(party_id)
    today = as_of or bank_today()
    owners_of = _upstream_edges(target, today)
    shares, info = compute(target, owners_of)
    control_rows = list(
        Relationship.objects.filter(party_to_id=target, type__in=CONTROL_TYPES)
        .filter(Q(end_on__isnull=True) | Q(end_on__gte=today))
        .values_list("party_from_id", "type")
    )
    ids = {target, *shares, *(str(pk) for pk, _type in control_rows)}
    ids.update(owner for owner, _owned, _pct in info["edges"])
    ids.update(owned for _owner, owned, _pct in info["edges"])
    facts = _party_facts(ids)
    direct = {owner: pct for owner, pct in owners_of.get(target, ())}
    result = UboResult(
        party_id=target,
        name=facts.get(target, {}).get("name", target),
        threshold=Decimal(threshold),
        max_depth=info["max_depth"],
        has_cycle=info["has_cycle"],
        nodes={pk: dict(value) for pk, value in facts.items()},
    )
    for owner, share in shares.items():
        fact = facts.get(owner, {"name": owner, "kind": "", "country": ""})
        effective = _round(share)
        result.owners.append(
            UboOwner(
                party_id=owner,
                name=fact["name"],
                kind=fact["kind"],
                country=fact["country"],
                direct_pct=_round(direct.get(owner, Decimal(0))),
                effective_pct=effective,
                depth=info["depth"][owner],
                paths=info["paths"][owner],
                # A person at or above the threshold; an organisation too when nobody owns it
                # (the top of the chain must be looked through by hand).
                is_beneficial_owner=effective >= Decimal(threshold)
                and (fact["kind"] == "person" or not owners_of.get(owner)),
            )
        )
    result.owners.sort(key=lambda owner: (-owner.effective_pct, owner.name))
    for pk, kind in control_rows:
        fact = facts.get(str(pk), {"name": str(pk), "kind": "", "country": ""})
        result.control_persons.append({"party": str(pk), "name": fact["name"], "role": kind})
    result.edges = sorted(
        ({"from": owner, "to": owned, "pct": _round(pct)} for owner, owned, pct in info["edges"]),
        key=lambda edge: (edge["to"], edge["from"]),
    )
    return result


# --- The graph, as inline SVG ----------------------------------------------------------------

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 190, 52, 24, 70, 16


def _clip(text: str, limit: int = 26) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graph_svg(result: UboResult) -> str:
    """The ownership graph as an inline SVG: the organisation at the bottom, its owners in
    layers above (by longest path), edges labelled with the percentage held, beneficial owners
    outlined; control persons beside the organisation. Server-side, no script."""
    layer: dict[str, int] = {result.party_id: 0}
    for holder in result.owners:
        layer[holder.party_id] = max(1, holder.depth)
    controls = [c for c in result.control_persons if c["party"] not in layer]
    for control in controls:
        layer[control["party"]] = 0
    levels = max(layer.values(), default=0) + 1
    rows: dict[int, list[str]] = {}
    for pk, level in sorted(layer.items(), key=lambda item: (item[1], item[0])):
        rows.setdefault(level, []).append(pk)
    widest = max(len(items) for items in rows.values())
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X
    height = MARGIN * 2 + levels * NODE_H + (levels - 1) * GAP_Y
    position: dict[str, tuple[float, float]] = {}
    for level, items in rows.items():
        row_width = len(items) * NODE_W + (len(items) - 1) * GAP_X
        left = (width - row_width) / 2
        top = height - MARGIN - NODE_H - level * (NODE_H + GAP_Y)
        for index, pk in enumerate(items):
            position[pk] = (left + index * (NODE_W + GAP_X), top)
    by_id = {owner.party_id: owner for owner in result.owners}
    control_role = {c["party"]: c["role"] for c in result.control_persons}
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="ubo-graph" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f"<title>{esc(result.name)}</title>",
        '<defs><marker id="ubo-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for edge in result.edges:
        if edge["from"] not in position or edge["to"] not in position:
            continue
        x1, y1 = position[edge["from"]]
        x2, y2 = position[edge["to"]]
        start = (x1 + NODE_W / 2, y1 + NODE_H)
        end = (x2 + NODE_W / 2, y2)
        if y1 >= y2:  # an edge going down the page or sideways: a cycle back up
            start, end = (x1 + NODE_W / 2, y1), (x2 + NODE_W / 2, y2 + NODE_H)
        parts.append(
            f'<line x1="{start[0]:.0f}" y1="{start[1]:.0f}" x2="{end[0]:.0f}" y2="{end[1]:.0f}" '
            f'stroke="#555" stroke-width="1.5" marker-end="url(#ubo-arrow)"/>'
        )
        mid_x, mid_y = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        parts.append(
            f'<text x="{mid_x + 4:.0f}" y="{mid_y:.0f}" fill="#222" '
            f'paint-order="stroke" stroke="#fff" stroke-width="3">{esc(str(edge["pct"]))}%</text>'
        )
    for pk, (x, y) in position.items():
        node = result.nodes.get(pk, {"name": pk, "kind": ""})
        owner = by_id.get(pk)
        if pk == result.party_id:
            fill, stroke, sub = "#e8f0fe", "#1a56db", ""
        elif pk in control_role and owner is None:
            fill, stroke, sub = "#f3f4f6", "#6b7280", control_role[pk].replace("_", " ")
        else:
            fill = "#fff7e6" if owner and owner.is_beneficial_owner else "#ffffff"
            stroke = "#b45309" if owner and owner.is_beneficial_owner else "#6b7280"
            sub = f"{owner.effective_pct}%" if owner else ""
            if owner and owner.is_beneficial_owner:
                sub += " UBO"
        width_attr = 2.5 if owner and owner.is_beneficial_owner else 1.2
        parts.append(
            f'<g class="ubo-node" data-party="{esc(pk)}"><rect x="{x:.0f}" y="{y:.0f}" '
            f'width="{NODE_W}" height="{NODE_H}" rx="6" fill="{fill}" stroke="{stroke}" '
            f'stroke-width="{width_attr}"/>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 21:.0f}" text-anchor="middle" '
            f'font-weight="bold">{esc(_clip(node.get("name", pk)))}</text>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 39:.0f}" text-anchor="middle" '
            f'fill="#374151">{esc(sub)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
