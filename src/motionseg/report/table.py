"""The paper-style markdown table (``table.md``): rows = flow backend, columns = method.

GT-free and oracle numbers are in separate, separately titled tables; published figures sit in their own table right
after ours, labelled ``published`` with their protocol and oracle use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from motionseg.metrics.protocols import MULTI_OBJECT_PROTOCOL
from motionseg.registry import METHODS
from motionseg.report.published import BENCHMARKS, PUBLISHED_METHODS, Published, published_for

_NO_MODE = {"", "none", "default", "-"}
_METRIC_NAMES = {"J_mean": "J", "F_mean": "F", "J_recall": "J-recall", "F_recall": "F-recall", "J_decay": "J-decay",
                 "F_decay": "F-decay", "J_mean_pooled": "J (frame-pooled)", "F_mean_pooled": "F (frame-pooled)",
                 "JF_mean": "J&F", "JF_mean_pooled": "J&F (frame-pooled)"}


def tracks_label(tracks: str) -> str:
    """Short label of a track id: ``flowchain-<flow>`` -> ``flowchain`` (the flow is the table row already)."""
    return "flowchain" if tracks.startswith("flowchain-") else tracks


def variant_label(method: str, mode: str, tracks: str, post: str = "none") -> str:
    """Column / legend label of one method variant, e.g. ``lrtl [flowchain]``, ``clusternet (offline)`` or
    ``bgfit +crf`` (post-processed by the dense CRF; ``+prop``: by the GT-free propagation)."""
    label = method
    if mode not in _NO_MODE and mode not in method:
        label += f" ({mode})"
    if tracks != "none":
        label += f" [{tracks_label(tracks)}]"
    if post not in ("none", ""):
        label += f" +{post}"
    return label


def add_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Add a ``variant`` column (see :func:`variant_label`) to a frame with method, mode, tracks (and post)
    columns."""
    df = df.copy()
    posts = df["post"] if "post" in df.columns else ["none"] * len(df)
    df["variant"] = [variant_label(m, str(md), t, str(pp)) for m, md, t, pp in
                     zip(df["method"], df["mode"], df["tracks"], posts, strict=True)]
    return df


def method_legend(methods: Sequence[str], supervision: Mapping[str, str] | None = None) -> list[str]:
    """Markdown lines saying, per method of the tables (registry order; a name the registry lacks is listed as
    unknown), what it is: kind, supervision, whether it is an oracle itself, whether it reads tracks. ``supervision``:
    what the score rows say per method (``external``: the config's; ``combine``: its components'), else the
    registry's."""
    if not methods:
        return []
    lines = [
        "Methods (supervision: what teaches the method; an oracle method's rows are all in the ORACLE tables):",
        "",
    ]
    known = [m for m in METHODS if m in set(methods)]
    for name in known:
        m = METHODS[name]
        use = "ORACLE (the ground truth chooses its foreground)" if m.oracle else "GT-free"
        tracks = ", reads point tracks" if m.uses_tracks else ""
        sup = (supervision or {}).get(name, m.supervision)
        lines.append(f"- `{name}`: {m.kind}, supervision {sup}, {use}{tracks}: {m.summary}.")
    lines += [f"- `{name}`: not a registered method." for name in sorted(set(methods) - set(known))]
    return [*lines, ""]


def _fmt(v: float, scale: float, decimals: int) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * scale:.{decimals}f}"


def _fmt_published(j: float | None) -> str:
    """A published figure with the precision it was published with (at least one decimal)."""
    if j is None:
        return "not found"
    return f"{j:.1f}" if round(j, 1) == j else f"{j:.2f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [":---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def pivot_lines(sub: pd.DataFrame, variants: Sequence[str], metrics: Sequence[str], scale: float,
                decimals: int) -> list[str]:
    """Markdown lines of one pivot (rows flow, columns variant) of summary rows ``sub`` (one selection)."""
    header = ["flow \\ method", *variants]
    rows = []
    for flow, g in sub.groupby("flow", sort=True):
        cells = [f"`{flow}`"]
        for v in variants:
            hit = g[g["variant"] == v]
            if hit.empty:
                cells.append("")
                continue
            r = hit.iloc[0]
            cell = " / ".join(_fmt(r[m], scale, decimals) for m in metrics)
            n_exp = r.get("n_expected")
            if n_exp is not None and not pd.isna(n_exp) and r["n_sequences"] < n_exp:
                cell += f" ({r['n_sequences']}/{int(n_exp)} seq)"
            cells.append(cell)
        rows.append(cells)
    return _md_table(header, rows)


def published_lines(benchmark: str, our_variants: Sequence[str]) -> list[str]:
    """Markdown lines of the published-figures table for ``benchmark``, columns aligned with our variants."""
    figs = published_for(benchmark)
    methods = list(dict.fromkeys(p.method for p in figs))
    # our columns first where a published method matches one of our method names
    methods.sort(key=lambda m: min((i for i, v in enumerate(our_variants)
                                    if v.split(" ")[0] in PUBLISHED_METHODS.get(m, ())), default=len(our_variants)))
    flows = list(dict.fromkeys(p.flow for p in figs))
    rows = []
    for flow in flows:
        cells = [f"{flow} · published"]
        for m in methods:
            hit = [p for p in figs if p.method == m and p.flow == flow]
            cells.append(_fmt_published(hit[0].J) if hit else "")
        rows.append(cells)
    lines = [f"**Published figures, {benchmark}** (mean J x100 as published; not re-run here; every one uses the "
             "ground truth to choose the foreground, so compare them with the ORACLE tables, not the GT-free ones):",
             "", *_md_table(["flow \\ method", *methods], rows), ""]
    for m in methods:
        p: Published = next(q for q in figs if q.method == m)
        lines.append(f"- **{m}** (published): protocol: {p.protocol}. Oracle: {p.oracle}. Source: {p.source} "
                     f"({p.status}).")
    return [*lines, ""]


# tables of one selection, by what taught the methods: unsupervised (none / self-supervised / oracle methods), then
# supervised, then methods whose supervision is unknown (external result masks)
SUPERVISION_TITLES = {"unsupervised": "", "supervised": "SUPERVISED · ", "unknown": "EXTERNAL, supervision unknown · "}


def _by_supervision(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(table class, rows) of one table's rows split by ``supervision`` (see :data:`SUPERVISION_TITLES`)."""
    sup = df["supervision"] if "supervision" in df.columns else pd.Series("unknown", index=df.index)
    cls = sup.map(lambda v: v if v in ("supervised", "unknown") else "unsupervised")
    return [(c, df[cls == c]) for c in SUPERVISION_TITLES if (cls == c).any()]


def render_table(summary: pd.DataFrame, report_cfg: Mapping, provenance: Mapping, n_missing: int) -> str:
    """The whole ``table.md`` text from the summary (see :func:`motionseg.report.run.aggregate`)."""
    scale = float(report_cfg["display_scale"])
    decimals = int(report_cfg["decimals"])
    metrics = list(report_cfg["table_metrics"])
    benchmarks: Mapping[str, str] = report_cfg["benchmarks"]
    unit = "x100" if scale == 100 else f"x{scale:g}"
    names = " / ".join(_METRIC_NAMES.get(m, m) for m in metrics)
    lines = ["# motionseg results", "",
             f"Cells: {names} ({unit}), mean of per-sequence means (DAVIS convention). Frame-pooled means, recall, "
             "decay, sequence and frame counts are in `summary.csv`; per-sequence values in `per_sequence.csv`.",
             "**GT-free** tables use no ground truth at any step. **ORACLE** tables let the ground truth choose the "
             "foreground; the two are computed separately and never averaged together. A `+crf` column is the same "
             "method after the dense CRF (`post=crf` rows), a `+prop` column after the GT-free propagation from its "
             "own most confident frames (`post=prop`), each beside its raw column.", "",
             f"Provenance: commit `{provenance.get('git_commit', 'unknown')}`, config sha256 "
             f"`{str(provenance.get('config_sha256', 'unknown'))[:12]}`, weights random: "
             f"{provenance.get('weights_random', 'unknown')} (details in `provenance.json`).", ""]
    if n_missing:
        lines += [f"> **Warning: {n_missing} expected sequence result(s) are missing** (listed in `missing.csv`). "
                  "Cells marked `(n/m seq)` average over fewer sequences than expected.", ""]
    if summary.empty:
        lines += ["No scores were found.", ""]
    else:
        sup = None
        if "supervision" in summary.columns:
            sup = {str(m): ", ".join(sorted(map(str, g.unique()))) for m, g in summary.groupby("method")["supervision"]}
        lines += method_legend(list(summary["method"].unique()), sup)
    summary = add_labels(summary)
    variants_all = sorted(summary["variant"].unique()) if len(summary) else []
    shown: set[str] = set()
    for dataset, d in summary.groupby("dataset", sort=True):
        lines += [f"## Dataset `{dataset}`", ""]
        for protocol, dp in d.groupby("protocol", sort=True):
            lines += [f"### Protocol `{protocol}`", ""]
            if protocol == MULTI_OBJECT_PROTOCOL:
                lines += ["Multi-object (official DAVIS-2017 unsupervised protocol): each method's instance PNGs are "
                          "matched to the GT objects of each sequence by Hungarian assignment on J&F (the benchmark's "
                          "own step; the proposals use no GT); cells are means over all objects.", ""]
            for oracle in (False, True):
                do = dp[dp["oracle"] == oracle]
                for selection, dsel in do.groupby("selection", sort=True):
                    for table_class, ds in _by_supervision(dsel):
                        variants = [v for v in variants_all if v in set(ds["variant"])]
                        title = ("GT-free" if not oracle else "ORACLE (the ground truth chooses the foreground)")
                        title = f"{SUPERVISION_TITLES[table_class]}{title}"
                        note = []
                        if oracle and not str(selection).startswith("oracle"):
                            note = ["The methods here use the ground truth themselves (their `meta.json` says "
                                    "`oracle: true`), whatever the selection rule.", ""]
                        if table_class == "supervised":
                            note += ["Supervised methods learnt from the GT masks of other sequences (their "
                                     "`train_split` or the other cross-validation folds), never of the sequences "
                                     "scored here; they are not comparable with the unsupervised columns.", ""]
                        lines += [f"#### {title} · selection `{selection}`", "", *note,
                                  *pivot_lines(ds, variants, metrics, scale, decimals), ""]
        bench = benchmarks.get(dataset)
        if bench is not None:
            lines += published_lines(bench, [v for v in variants_all if v in set(d["variant"])])
            shown.add(bench)
        else:
            lines += [f"No published figures are mapped to dataset `{dataset}` (set `report.benchmarks`).", ""]
    rest = [b for b in BENCHMARKS if b not in shown]
    if report_cfg["published_appendix"] and rest:
        lines += ["## Published figures for reference (other data than the tables above)", ""]
        for b in rest:
            lines += published_lines(b, variants_all)
    return "\n".join(lines).rstrip() + "\n"


_HTML_STYLE = """body{font-family:sans-serif;font-size:14px;margin:1em 2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #bbb;padding:3px 8px;text-align:center}
th{background:#eee}td:first-child{text-align:left}h4{margin-bottom:.3em}
blockquote{border-left:4px solid #d33;margin:.5em 0;padding:.2em .8em;background:#fee}code{background:#f3f3f3}"""


def _inline_html(text: str) -> str:
    import html
    import re

    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<em>\1</em>", text)


def markdown_to_html(md: str, title: str = "motionseg results") -> str:
    """A standalone HTML page of the markdown that :func:`render_table` writes (headings, paragraphs, pipe tables,
    bullet lists, block quotes, bold and code spans), for viewers without a markdown renderer (the Snakemake
    HTML report shows ``.html`` inline, ``.md`` only as a download)."""
    import html

    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{_HTML_STYLE}</style></head><body>"]
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline_html(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            i -= 1
            head, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set(":-") for c in r)]
            out.append("<table><tr>" + "".join(f"<th>{_inline_html(c)}</th>" for c in head) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("</table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline_html(lines[i][2:])}</li>")
                i += 1
            i -= 1
            out.append("<ul>" + "".join(items) + "</ul>")
        elif line.startswith("> "):
            out.append(f"<blockquote>{_inline_html(line[2:])}</blockquote>")
        elif line.strip():
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ", "> ")):
                para.append(_inline_html(lines[i]))
                i += 1
            i -= 1
            out.append("<p>" + "<br>".join(para) + "</p>")
        i += 1
    out.append("</body></html>")
    return "\n".join(out) + "\n"
