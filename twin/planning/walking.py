"""Walking: a pedestrian graph from the street lines where they are loaded, a straight line × a detour
factor elsewhere, and who reaches what within a walk. Pure over arrays and frames (EPSG:32634).

- The graph: every street vertex a node (vertices closer than 0.5 m are one: OpenStreetMap ways share
  their junction nodes), every segment an edge of its length; it covers the streets' area (the lines
  buffered by GRAPH_REACH_M). A point is on the graph when it lies in that area; it joins it at the
  nearest node, the straight way there added.
- A walk between two points both on the graph is the shortest path (Dijkstra, scipy); any other walk is
  the straight line × `detour` (1.3 by default). Every answer says how many were measured which way.
- Access by two-step floating catchment (2SFCA, Luo & Wang 2003): each place's capacity shared among the
  residents within the walk of it, then each resident's places = Σ of the shares of the places within
  the walk of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

Array = np.ndarray[Any, Any]
WALK_M_PER_MIN = 80.0
DEFAULT_DETOUR = 1.3
GRAPH_REACH_M = 100.0
SNAP_M = 0.5


@dataclass(frozen=True)
class Graph:
    nodes: Array
    """(n, 2) node coordinates."""
    edges: sparse.csr_matrix
    area: Any
    """Where points are on the graph (a geometry)."""

    @property
    def empty(self) -> bool:
        return len(self.nodes) == 0


def graph_of(streets: gpd.GeoDataFrame) -> Graph:
    """The pedestrian graph of street lines (EPSG:32634)."""
    if streets.empty:
        return Graph(np.zeros((0, 2)), sparse.csr_matrix((0, 0)), shapely.Polygon())
    coords, index = shapely.get_coordinates(streets.geometry.values, return_index=True)
    keys = np.round(coords / SNAP_M).astype(np.int64)
    unique, node_of = np.unique(keys, axis=0, return_inverse=True)
    node_of = node_of.ravel()
    nodes = np.zeros((len(unique), 2))
    nodes[node_of] = coords
    same_line = index[1:] == index[:-1]
    a, b = node_of[:-1][same_line], node_of[1:][same_line]
    keep = a != b
    a, b = a[keep], b[keep]
    length = np.hypot(*(nodes[a] - nodes[b]).T)
    n = len(nodes)
    edges = sparse.coo_matrix(
        (np.concatenate([length, length]), (np.concatenate([a, b]), np.concatenate([b, a]))), shape=(n, n)
    ).tocsr()
    area = shapely.union_all(shapely.buffer(streets.geometry.values, GRAPH_REACH_M))
    return Graph(nodes, edges, area)


def distances(
    graph: Graph, origins: Array, targets: Array, detour: float = DEFAULT_DETOUR
) -> tuple[Array, Array]:
    """(origins × targets walking distances in metres, whether each was measured on the graph)."""
    origins = np.asarray(origins, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    straight = (
        np.hypot(origins[:, None, 0] - targets[None, :, 0], origins[:, None, 1] - targets[None, :, 1])
        * detour
    )
    if graph.empty or len(targets) == 0 or len(origins) == 0:
        return straight, np.zeros(straight.shape, dtype=bool)
    shapely.prepare(graph.area)
    origin_on = shapely.contains_xy(graph.area, origins[:, 0], origins[:, 1])
    target_on = shapely.contains_xy(graph.area, targets[:, 0], targets[:, 1])
    tree = cKDTree(graph.nodes)
    origin_snap, origin_node = tree.query(origins)
    target_snap, target_node = tree.query(targets)
    walked = np.full(straight.shape, np.inf)
    columns = np.flatnonzero(target_on)
    if len(columns):
        from_targets = dijkstra(
            graph.edges, directed=False, indices=target_node[columns]
        )  # (targets on, nodes)
        walked[:, columns] = (
            from_targets[:, origin_node].T + origin_snap[:, None] + target_snap[columns][None, :]
        )
    on_graph = origin_on[:, None] & target_on[None, :] & np.isfinite(walked)
    return np.where(on_graph, walked, straight), on_graph


def nearest(distance: Array) -> Array:
    """Each origin's distance to its nearest target (inf without any)."""
    return distance.min(axis=1) if distance.shape[1] else np.full(distance.shape[0], np.inf)


def two_step(distance: Array, residents: Array, capacity: Array, reach_m: float) -> Array:
    """2SFCA: places per resident reachable from each origin."""
    within = distance <= reach_m
    demand = residents @ within  # residents within reach of each place
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand > 0, capacity / demand, 0.0)
    return np.asarray(within @ ratio)


@dataclass(frozen=True)
class Reach:
    """Who reaches which places within a walk, for many origins without an origins × places matrix."""

    nearest_m: Array
    """Each origin's walk to its nearest place (inf without any)."""
    within: sparse.csr_matrix
    """(origins, places): 1 where the place is within the walk."""
    on_graph: Array
    """Whether any of the origin's walks was measured on the graph."""


def reach(
    graph: Graph, origins: Array, targets: Array, reach_m: float, detour: float = DEFAULT_DETOUR
) -> Reach:
    """As :func:`distances`, kept sparse: the straight-line pairs from k-d trees (no dense matrix), the
    graph's walks for the origins and places on it (Dijkstra bounded by the walk)."""
    origins = np.asarray(origins, dtype=np.float64).reshape(-1, 2)
    targets = np.asarray(targets, dtype=np.float64).reshape(-1, 2)
    n, t = len(origins), len(targets)
    if n == 0 or t == 0:
        return Reach(np.full(n, np.inf), sparse.csr_matrix((n, t)), np.zeros(n, dtype=bool))
    target_tree = cKDTree(targets)
    nearest, _ = target_tree.query(origins)
    nearest = nearest * detour
    pairs = cKDTree(origins).sparse_distance_matrix(target_tree, reach_m / detour, output_type="coo_matrix")
    within = sparse.csr_matrix((np.ones(pairs.nnz), (pairs.row, pairs.col)), shape=(n, t))
    on_graph = np.zeros(n, dtype=bool)
    if not graph.empty:
        shapely.prepare(graph.area)
        origin_on = np.flatnonzero(shapely.contains_xy(graph.area, origins[:, 0], origins[:, 1]))
        target_on = np.flatnonzero(shapely.contains_xy(graph.area, targets[:, 0], targets[:, 1]))
        if len(origin_on) and len(target_on):
            walked, measured = distances(graph, origins[origin_on], targets[target_on], detour)
            walked = np.where(measured, walked, np.inf)
            # Pairs both on the graph are the graph's walks, not the straight line's.
            coo = within.tocoo()
            row_on = np.isin(coo.row, origin_on)
            col_on = np.isin(coo.col, target_on)
            keep = ~(row_on & col_on)
            rows, cols = np.nonzero(walked <= reach_m)
            within = sparse.csr_matrix(
                (
                    np.ones(int(keep.sum()) + len(rows)),
                    (
                        np.concatenate([coo.row[keep], origin_on[rows]]),
                        np.concatenate([coo.col[keep], target_on[cols]]),
                    ),
                ),
                shape=(n, t),
            )
            off = np.setdiff1d(np.arange(t), target_on)
            best_off = cKDTree(targets[off]).query(origins[origin_on])[0] * detour if len(off) else np.inf
            nearest[origin_on] = np.minimum(best_off, walked.min(axis=1))
            on_graph[origin_on] = measured.any(axis=1)
    return Reach(nearest, within, on_graph)


def two_step_sparse(within: sparse.csr_matrix, residents: Array, capacity: Array) -> Array:
    """2SFCA over a sparse reach matrix: places per resident reachable from each origin."""
    demand = within.T @ residents
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand > 0, capacity / demand, 0.0)
    return np.asarray(within @ ratio)


CATCHMENT_STEP_M = 20.0
"""Spacing of the points sampled along the streets reached when drawing a catchment."""


def catchments(
    graph: Graph, points: Array, walk_m: float, detour: float = DEFAULT_DETOUR
) -> tuple[Array, Array]:
    """Per point, the area within `walk_m` of walking, and whether it was drawn from the graph.

    On the graph: the street graph walked from the point's nearest vertex (Dijkstra bounded by what is
    left of the walk), and around every place reached along a street, the disc of what is left of the
    walk there (at most GRAPH_REACH_M, the graph's own reach off a street; sampled every
    CATCHMENT_STEP_M) — approximately the places :func:`distances` puts within the walk; beyond the
    graph's area, the circle of radius walk_m / detour. Off the graph: that circle alone."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    circles = shapely.buffer(shapely.points(points), walk_m / detour, quad_segs=16)
    drawn = np.zeros(len(points), dtype=bool)
    if graph.empty or len(points) == 0:
        return circles, drawn
    shapely.prepare(graph.area)
    on = np.flatnonzero(shapely.contains_xy(graph.area, points[:, 0], points[:, 1]))
    if len(on) == 0:
        return circles, drawn
    snap, node = cKDTree(graph.nodes).query(points[on])
    budget = walk_m - snap
    walked = dijkstra(graph.edges, directed=False, indices=node, limit=float(max(budget.max(), 0.0)))
    edges = graph.edges.tocoo()
    result = circles.copy()
    for k, i in enumerate(on):
        if budget[k] <= 0:
            continue
        reached = _reached_discs(graph.nodes, edges, walked[k], float(budget[k]))
        outside = shapely.difference(circles[i], graph.area)
        result[i] = shapely.union_all(np.append(reached, outside))
        drawn[i] = True
    return result, drawn


def _reached_discs(nodes: Array, edges: sparse.coo_matrix, walked: Array, budget: float) -> Array:
    """Discs of the walk left at points sampled along every street reached (both ways of each edge)."""
    start, end, length = edges.row, edges.col, edges.data
    left_at_start = budget - walked[start]
    keep = np.isfinite(left_at_start) & (left_at_start > 0)
    start, end, length, left_at_start = start[keep], end[keep], length[keep], left_at_start[keep]
    along = np.minimum(length, left_at_start)
    samples = np.floor(along / CATCHMENT_STEP_M).astype(np.int64) + 2  # both ends of the reached part
    edge = np.repeat(np.arange(len(start)), samples)
    first = np.cumsum(samples) - samples
    step = np.arange(samples.sum()) - np.repeat(first, samples)
    t = np.minimum(step * CATCHMENT_STEP_M, along[edge])
    fraction = np.where(length[edge] > 0, t / length[edge], 0.0)
    xy = nodes[start[edge]] + (nodes[end[edge]] - nodes[start[edge]]) * fraction[:, None]
    radius = np.minimum(left_at_start[edge] - t, GRAPH_REACH_M)
    big = radius > SNAP_M
    discs: Array = shapely.buffer(shapely.points(xy[big]), radius[big], quad_segs=8)
    return discs
