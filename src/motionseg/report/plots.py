"""Report plots (matplotlib, Agg backend): per-sequence J bars, J by flow backend, J over time.

Every plot uses one colour per method variant, fixed for the whole report by :func:`variant_colours`, so a method has
the same colour in every figure. J is shown scaled by ``display_scale`` (x100 by default).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from motionseg.io.atomic import atomic_path  # noqa: E402

_LINESTYLES = ["-", "--", ":", "-."]
_HATCHES = ["", "//", "..", "xx"]
_MARKERS = [".", "o", "s", "^"]


def _series_order(df: pd.DataFrame, colours: Mapping[str, tuple]) -> list[tuple[str, str, int]]:
    """(series, variant, selection index) of the series in ``df``: variants in colour order, then selection.

    The colour comes from the variant (the method), so a method has one colour in every plot; several selections
    of one group (e.g. an oracle method's own rule and ``oracle-frame``) are told apart by hatching / markers.
    """
    sels = sorted(df["selection"].unique()) if "selection" in df.columns else [""]
    rank = {v: i for i, v in enumerate(colours)}
    trip = df[["series", "variant", *(["selection"] if "selection" in df.columns else [])]].drop_duplicates()
    out = [(r.series, r.variant, sels.index(getattr(r, "selection", ""))) for r in trip.itertuples(index=False)]
    return sorted(out, key=lambda x: (rank.get(x[1], len(rank)), x[2]))


def variant_colours(variants: Sequence[str]) -> dict[str, tuple]:
    """One fixed RGBA colour per variant label, in sorted order of the labels (tab10, then tab20 beyond 10)."""
    names = sorted(set(variants))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {v: cmap(i % cmap.N) for i, v in enumerate(names)}


def _save(fig: plt.Figure, out_png: str | Path, dpi: int) -> None:
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_per_sequence(ps: pd.DataFrame, colours: Mapping[str, tuple], out_png: str | Path, title: str,
                      scale: float, max_sequences: int, dpi: int) -> None:
    """Grouped bars of per-sequence ``J_mean`` x ``scale``: x = sequence, one bar per series, one panel per flow.

    ps: per-sequence rows with columns ``flow, sequence, series, J_mean`` (one selection group). With more than
    ``max_sequences`` sequences only the worst ones (lowest mean J over all series) are drawn; the title says so.
    """
    seq_mean = ps.groupby("sequence")["J_mean"].mean().sort_values()
    n_all = len(seq_mean)
    if n_all > max_sequences:
        keep = set(seq_mean.index[:max_sequences])
        ps = ps[ps["sequence"].isin(keep)]
        title += f"\n(the {max_sequences} worst of {n_all} sequences by mean J)"
    sequences = sorted(ps["sequence"].unique())
    flows = sorted(ps["flow"].unique())
    series = _series_order(ps, colours)
    width = 0.8 / max(len(series), 1)
    fig_w = min(max(6.0, 0.25 * len(sequences) * max(len(series), 2) + 2.5), 40.0)
    fig, axes = plt.subplots(len(flows), 1, figsize=(fig_w, 3.2 * len(flows) + 0.8), squeeze=False, sharey=True)
    x = np.arange(len(sequences))
    for ax, flow in zip(axes[:, 0], flows, strict=True):
        g = ps[ps["flow"] == flow]
        for i, (s, var, k) in enumerate(series):
            vals = g[g["series"] == s].set_index("sequence")["J_mean"].reindex(sequences)
            ax.bar(x - 0.4 + width * (i + 0.5), vals.to_numpy(dtype=float) * scale, width, color=colours[var],
                   hatch=_HATCHES[k % len(_HATCHES)], label=s, edgecolor="black", linewidth=0.3)
        ax.set_title(f"flow: {flow}", fontsize=10, loc="left")
        ax.set_ylabel(f"J mean (x{scale:g})")
        ax.set_ylim(0, scale)
        ax.set_xticks(x)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    # sequence names only under the bottom panel (all panels share the same sequences)
    axes[-1, 0].set_xticklabels(sequences, rotation=45 if len(sequences) > 4 else 0,
                                ha="right" if len(sequences) > 4 else "center", fontsize=8)
    for ax in axes[:-1, 0]:
        ax.tick_params(labelbottom=False)
    axes[-1, 0].set_xlabel("sequence")
    axes[0, 0].legend(title="method", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, out_png, dpi)


def plot_by_flow(summary: pd.DataFrame, ps: pd.DataFrame, colours: Mapping[str, tuple], out_png: str | Path,
                 title: str, scale: float, dpi: int) -> None:
    """Grouped bars of mean-of-sequence-means J x ``scale``: x = flow backend, one bar per series; every sequence's
    J is drawn as a small black dot on its bar, and the bar is labelled with its value and sequence count.

    summary: rows with ``flow, series, J_mean, n_sequences``; ps: per-sequence rows with ``flow, series, J_mean``.
    """
    flows = sorted(summary["flow"].unique())
    series = _series_order(summary, colours)
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(flows) * max(len(series), 1) * 0.6 + 3.0), 4.2))
    rng = np.random.default_rng(0)  # jitter of the per-sequence dots only; fixed for identical PNGs
    for i, (s, var, k) in enumerate(series):
        labelled = False
        for j, flow in enumerate(flows):
            hit = summary[(summary["series"] == s) & (summary["flow"] == flow)]
            if hit.empty:
                continue
            xc = j - 0.4 + width * (i + 0.5)
            val = float(hit["J_mean"].iloc[0]) * scale
            ax.bar(xc, val, width, color=colours[var], hatch=_HATCHES[k % len(_HATCHES)], edgecolor="black",
                   linewidth=0.3, label=None if labelled else s)
            labelled = True
            pts = ps[(ps["series"] == s) & (ps["flow"] == flow)]["J_mean"].to_numpy(dtype=float) * scale
            if not math.isnan(val):
                top = np.nanmax([val, *pts]) if len(pts) else val
                ax.text(xc, top + scale * 0.015, f"{val:.1f}\nn={int(hit['n_sequences'].iloc[0])}", ha="center",
                        va="bottom", fontsize=7)
            ax.scatter(xc + rng.uniform(-width / 4, width / 4, len(pts)), pts, s=8, color="black", zorder=3,
                       linewidths=0)
    ax.set_xticks(np.arange(len(flows)))
    ax.set_xticklabels(flows)
    ax.set_xlabel("flow backend")
    ax.set_ylabel(f"J mean over sequences (x{scale:g})")
    ax.set_ylim(0, scale * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(title="method (dots: sequences)", fontsize=8, title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=11)
    _save(fig, out_png, dpi)


def _frame_axis(frames: pd.Series) -> np.ndarray:
    """Frame names as numbers when they are all integers (``00012`` -> 12), else their rank."""
    try:
        return frames.astype(int).to_numpy()
    except ValueError:
        return frames.rank(method="dense").to_numpy() - 1


def plot_over_time(fr: pd.DataFrame, colours: Mapping[str, tuple], out_png: str | Path, title: str, scale: float,
                   max_sequences: int, dpi: int) -> None:
    """Per-frame J x ``scale`` over time: one small panel per sequence (at most ``max_sequences``, by name), one
    line per series (colour) and flow backend (line style).

    fr: per-frame rows with ``sequence, flow, series, frame, J``.
    """
    sequences = sorted(fr["sequence"].unique())
    n_all = len(sequences)
    if n_all > max_sequences:
        sequences = sequences[:max_sequences]
        title += f"\n(first {max_sequences} of {n_all} sequences by name)"
    flows = sorted(fr["flow"].unique())
    style = {f: _LINESTYLES[i % len(_LINESTYLES)] for i, f in enumerate(flows)}
    ncol = min(3, len(sequences))
    nrow = math.ceil(len(sequences) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol + 2.2, 2.8 * nrow + 0.6), squeeze=False, sharey=True)
    handles = {}
    order = _series_order(fr, colours)
    for ax, seq in zip(axes.ravel(), sequences, strict=False):
        g = fr[fr["sequence"] == seq]
        for s, var, k in order:
            for flow in flows:
                gs = g[(g["series"] == s) & (g["flow"] == flow)]
                if gs.empty:
                    continue
                gs = gs.assign(_t=_frame_axis(gs["frame"])).sort_values("_t")
                (line,) = ax.plot(gs["_t"], gs["J"] * scale, color=colours[var], linestyle=style[flow],
                                  linewidth=1.4, marker=_MARKERS[k % len(_MARKERS)] if len(gs) < 40 or k else None,
                                  markersize=3)
                handles[f"{s} · {flow}" if len(flows) > 1 else s] = line
        ax.set_title(seq, fontsize=10)
        ax.set_ylim(0, scale * 1.02)
        ax.grid(alpha=0.3)
        ax.set_xlabel("frame")
        ax.set_ylabel(f"J (x{scale:g})")
    for ax in axes.ravel()[len(sequences):]:
        ax.set_visible(False)
    fig.legend(list(handles.values()), list(handles.keys()), title="method · flow" if len(flows) > 1 else "method",
               fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.95))
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    _save(fig, out_png, dpi)
