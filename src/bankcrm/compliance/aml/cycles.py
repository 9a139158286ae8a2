"""Graph measures over transfers between the bank's accounts: cycles and scatter-gather.

The transfer graph has one edge per debit booking whose counterparty is one of the bank's
accounts (payer → payee, at the booking time, with the amount in base currency).

A *cycle* is a time-respecting chain of edges u0→u1→…→u0: each hop at or after the previous
one and at most ``hop_days`` later, the whole chain within ``span_days``, each amount at
least ``decay`` times and at most 1/``decay`` times the previous one (money moves on, less
fees or split), and at most ``max_length`` hops. The search is breadth-first over whole
layers of partial paths at once (numpy), so its cost follows the number of time-respecting
paths, not the size of the book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frame import SECONDS_PER_DAY, TxFrame
from .rules import Rule

#: Stop expanding when a layer holds more partial paths than this (reported, never silent).
MAX_FRONTIER = 4_000_000


@dataclass
class Edges:
    row: np.ndarray  # frame row of the payer's debit
    src: np.ndarray
    dst: np.ndarray
    ts: np.ndarray
    amount: np.ndarray
    # CSR over src: edges sorted by (src, ts)
    offsets: np.ndarray


def transfer_edges(frame: TxFrame) -> Edges:
    """The frame's payer → payee edges (cached on the frame)."""
    found = frame.meta.get("_edges")
    if found is None:
        found = _transfer_edges(frame)
        frame.meta["_edges"] = found
    return found


def _transfer_edges(frame: TxFrame) -> Edges:
    cp = frame.counterparty
    sel = (frame.direction < 0) & (cp >= 0)
    sel &= frame.internal[np.maximum(cp, 0)]
    rows = np.flatnonzero(sel)
    src = frame.account[rows].astype(np.int64)
    dst = cp[rows].astype(np.int64)
    ts = frame.ts[rows]
    order = np.lexsort((ts, src))
    rows, src, dst, ts = rows[order], src[order], dst[order], ts[order]
    amount = np.abs(frame.amount[rows])
    offsets = np.zeros(frame.n_keys + 1, dtype=np.int64)
    np.add.at(offsets, src + 1, 1)
    np.cumsum(offsets, out=offsets)
    return Edges(rows, src, dst, ts, amount, offsets)


def _expand(
    edges: Edges, node: np.ndarray, t_from: np.ndarray, t_to: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each (node, [t_from, t_to]) the out-edges in the interval: (parent index, edge)."""
    start = edges.offsets[node]
    stop = edges.offsets[node + 1]
    # within each node's block the edges are sorted by time: binary search on a global key
    key = edges.src * (1 << 40) + edges.ts
    lo = np.searchsorted(key, node * (1 << 40) + t_from, side="left")
    hi = np.searchsorted(key, node * (1 << 40) + t_to, side="right")
    lo = np.clip(lo, start, stop)
    hi = np.clip(hi, start, stop)
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    parent = np.repeat(np.arange(node.shape[0]), count)
    first = np.repeat(lo - np.cumsum(count) + count, count)
    edge = first + np.arange(total)
    return parent, edge


@dataclass
class CycleResult:
    cycles: list[list[int]]  # each a list of edge indexes (first hop first)
    edges: Edges
    truncated: bool = False
    seconds: float = 0.0


def find_cycles(
    frame: TxFrame,
    *,
    max_length: int = 6,
    hop_days: float = 10,
    span_days: float = 30,
    decay: float = 0.5,
    limit: int = 1_000_000,
) -> CycleResult:
    """Time-respecting cycles of 2..max_length hops (see the module docstring)."""
    import time

    started = time.perf_counter()
    edges = transfer_edges(frame)
    hop = int(hop_days * SECONDS_PER_DAY)
    span = int(span_days * SECONDS_PER_DAY)
    # Layer 1: every edge starts a path (no self transfers).
    cur_edge = np.flatnonzero(edges.src != edges.dst).astype(np.int64)
    origin = edges.src[cur_edge]
    start_ts = edges.ts[cur_edge]
    prev_node = edges.src[cur_edge]
    pos = np.arange(cur_edge.shape[0], dtype=np.int64)  # frontier → index in last layer
    layers_edge = [cur_edge]
    layers_parent = [np.full(cur_edge.shape[0], -1, np.int64)]
    found: list[tuple[int, int]] = []  # (layer, index in layer)
    truncated = False
    for _depth in range(2, max_length + 1):
        if cur_edge.shape[0] == 0:
            break
        node = edges.dst[cur_edge]
        t_now = edges.ts[cur_edge]
        t_to = np.minimum(t_now + hop, start_ts + span)
        parent, nxt = _expand(edges, node, t_now, t_to)
        if nxt.shape[0] == 0:
            break
        amount_prev = edges.amount[cur_edge[parent]]
        amount_next = edges.amount[nxt]
        keep = (amount_next >= decay * amount_prev) & (amount_next * decay <= amount_prev)
        nxt_dst = edges.dst[nxt]
        keep &= nxt_dst != node[parent]  # no self transfers
        closes = nxt_dst == origin[parent]
        # no immediate return to the previous account unless it closes the cycle
        keep &= (nxt_dst != prev_node[parent]) | closes
        parent, nxt, closes = parent[keep], nxt[keep], closes[keep]
        layer = len(layers_edge)
        layers_edge.append(nxt)
        layers_parent.append(pos[parent])
        found.extend((layer, i) for i in np.flatnonzero(closes).tolist())
        if len(found) >= limit:
            truncated = True
            break
        open_idx = np.flatnonzero(~closes)
        if open_idx.shape[0] > MAX_FRONTIER:
            truncated = True
            open_idx = open_idx[:MAX_FRONTIER]
        cur_edge = nxt[open_idx]
        origin = origin[parent[open_idx]]
        start_ts = start_ts[parent[open_idx]]
        prev_node = node[parent[open_idx]]
        pos = open_idx
    cycles = []
    for layer, i in found:
        path = []
        lyr, idx = layer, i
        while lyr >= 0:
            path.append(int(layers_edge[lyr][idx]))
            idx = int(layers_parent[lyr][idx])
            lyr -= 1
        cycles.append(path[::-1])
    return CycleResult(
        cycles=cycles,
        edges=edges,
        truncated=truncated,
        seconds=time.perf_counter() - started,
    )


def cycle_values(frame: TxFrame, params: dict[str, float]) -> np.ndarray:
    """Per frame row: the number of cycles whose hop is this debit booking."""
    result = find_cycles(
        frame,
        max_length=int(params.get("max_length", 6)),
        hop_days=float(params.get("hop_days", 10)),
        span_days=float(params.get("span_days", 30)),
        decay=float(params.get("decay", 0.5)),
    )
    out = np.zeros(len(frame))
    if result.cycles:
        hops = np.concatenate([np.asarray(c, dtype=np.int64) for c in result.cycles])
        np.add.at(out, result.edges.row[hops], 1.0)
    frame.meta["cycles_found"] = len(result.cycles)
    frame.meta["cycles_truncated"] = result.truncated
    return out


def scatter_gather_values(frame: TxFrame, params: dict[str, float]) -> np.ndarray:
    """Per frame row: for two-hop paths payer→intermediary→payee (second hop within
    ``hop_days`` after the first), the number of distinct intermediaries between the pair,
    put on the payer's first debit of the pattern and the payee's credit leg of the last."""
    edges = transfer_edges(frame)
    hop = int(float(params.get("hop_days", 10)) * SECONDS_PER_DAY)
    out = np.zeros(len(frame))
    if edges.src.shape[0] == 0:
        return out
    first = np.arange(edges.src.shape[0], dtype=np.int64)
    node = edges.dst[first]
    parent, second = _expand(edges, node, edges.ts[first], edges.ts[first] + hop)
    e1 = first[parent]
    src = edges.src[e1]
    mid = edges.dst[e1]
    dst = edges.dst[second]
    keep = (dst != src) & (dst != mid)
    e1, second, src, mid, dst = e1[keep], second[keep], src[keep], mid[keep], dst[keep]
    if e1.shape[0] == 0:
        return out
    n = np.int64(frame.n_keys)
    pair = src * n + dst
    # distinct intermediaries per (payer, payee) pair
    triple = np.unique(np.stack([pair, mid]), axis=1)
    pairs, counts = np.unique(triple[0], return_counts=True)
    wanted = float(params.get("min_intermediaries", 2))
    strong = pairs[counts >= wanted]
    if strong.shape[0] == 0:
        return out
    count_of = dict(zip(strong.tolist(), counts[counts >= wanted].tolist(), strict=True))
    sel = np.isin(pair, strong)
    e1s, e2s, ps = e1[sel], second[sel], pair[sel]
    order = np.argsort(ps, kind="stable")
    e1s, e2s, ps = e1s[order], e2s[order], ps[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    for i, s in enumerate(starts.tolist()):
        e = int(starts[i + 1]) if i + 1 < starts.shape[0] else ps.shape[0]
        k = float(count_of[int(ps[s])])
        first_hop = e1s[s:e][np.argmin(edges.ts[e1s[s:e]])]
        out[edges.row[first_hop]] += k
        last_hop = e2s[s:e][np.argmax(edges.ts[e2s[s:e]])]
        credit_row = _credit_row(frame, edges, int(last_hop))
        if credit_row >= 0:
            out[credit_row] += k
    return out


def _credit_row(frame: TxFrame, edges: Edges, edge: int) -> int:
    """The payee's credit leg of a transfer edge (-1 when not in the frame)."""
    index = frame.meta.get("_credit_index")
    if index is None:
        rows = np.flatnonzero((frame.direction > 0) & (frame.counterparty >= 0))
        index = {}
        for r, a, c, t in zip(
            rows.tolist(),
            frame.account[rows].tolist(),
            frame.counterparty[rows].tolist(),
            frame.ts[rows].tolist(),
            strict=True,
        ):
            index.setdefault((a, c, t), r)
        frame.meta["_credit_index"] = index
    return int(index.get((int(edges.dst[edge]), int(edges.src[edge]), int(edges.ts[edge])), -1))


def graph_values(frame: TxFrame, rule: Rule) -> np.ndarray:
    """Per-row values of a graph measure (cached on the frame per parameters)."""
    cache = frame.meta.setdefault("_graph_cache", {})
    key = (rule.measure, tuple(sorted(rule.params.items())))
    found = cache.get(key)
    if found is None:
        if rule.measure == "cycles":
            found = cycle_values(frame, rule.params)
        else:
            found = scatter_gather_values(frame, rule.params)
        cache[key] = found
    return found
