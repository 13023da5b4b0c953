"""Reading per-sequence score CSVs and aggregating them into the summary (docs/architecture.md, "Scores").

Every J/F value here is a fraction in [0, 1]; display scaling (x100) happens only in the table and the plots.
Aggregation itself is :func:`motionseg.metrics.aggregate` (mean of sequence means and frame-pooled); it groups by
:data:`GROUP_KEY`, which holds ``oracle``, so oracle rows are never averaged together with GT-free rows.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from motionseg.io.errors import InputError
from motionseg.metrics.columns import GROUP_COLUMNS, KEY_COLUMNS, METRIC_COLUMNS, SCORE_COLUMNS
from motionseg.registry import METHODS

log = logging.getLogger(__name__)

# identity of one (combination, sequence) result; (KEY_COLS + protocol/selection) identifies one score row
COMBO_COLS = ["dataset", "flow", "tracks", "method", "mode"]
ROW_KEY = [c for c in KEY_COLUMNS if c != "oracle"]
GROUP_KEY = GROUP_COLUMNS
METRIC_COLS = METRIC_COLUMNS
STR_COLS = ROW_KEY
EXPECTED_COLS = ["dataset", "sequence", "flow", "tracks", "method", "post"]
# columns added by later versions, with the value every older score CSV had (no post-processing, one object)
LATER_COLUMNS = {"post": "none", "n_objects": 1, "n_missing": 0}
FRAME_REQUIRED = ["dataset", "sequence", "flow", "tracks", "method", "frame", "J"]

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def registry_supervision(method: str) -> str:
    """The supervision of a registered method (``unknown`` for a name the registry lacks or a declared one)."""
    m = METHODS.get(method)
    return "unknown" if m is None or m.supervision == "declared" else m.supervision


def parse_bool_column(values: pd.Series, path: str | Path, column: str) -> pd.Series:
    """Parse a column of booleans written as True/False, true/false or 1/0; anything else raises InputError."""
    out = []
    for v in values.astype(str).str.strip().str.lower():
        if v in _TRUE:
            out.append(True)
        elif v in _FALSE:
            out.append(False)
        else:
            raise InputError(path, f"column '{column}' must be true/false, found {v!r}")
    return pd.Series(out, index=values.index, dtype=bool)


def read_score_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate one per-sequence score CSV.

    Returns one row per (protocol, selection) with the columns of :data:`SCORE_COLUMNS`: key columns as str,
    ``oracle`` as bool, J/F metrics as float in [0, 1] (decay may be negative or NaN), ``n_frames`` as int.
    Raises InputError naming the file for missing columns, empty files, values out of range or an ``oracle-*``
    selection not flagged as oracle.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={c: str for c in STR_COLS}, keep_default_na=False, na_values={
            c: ["", "nan", "NaN"] for c in METRIC_COLS})
    except FileNotFoundError:
        raise InputError(path, "score CSV does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV ({exc})") from exc
    for col, value in LATER_COLUMNS.items():
        if col not in df.columns:
            df[col] = value
    if "supervision" not in df.columns and "method" in df.columns:  # before the column existed: the registry's word
        df["supervision"] = [registry_supervision(m) for m in df["method"]]
    missing = [c for c in SCORE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"score CSV lacks columns {missing} (has {list(df.columns)})")
    if df.empty:
        raise InputError(path, "score CSV has no rows")
    df = df[SCORE_COLUMNS].copy()
    df["oracle"] = parse_bool_column(df["oracle"], path, "oracle")
    for c in METRIC_COLS:
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
    for c in ("J_mean", "J_recall", "F_mean", "F_recall"):
        bad = df[c].notna() & ((df[c] < 0) | (df[c] > 1))
        if bad.any():
            raise InputError(path, f"column '{c}' must lie in [0, 1] (fractions, not percent); found "
                                   f"{df.loc[bad, c].tolist()[:3]}")
    for c in ("n_frames", "n_objects", "n_missing"):
        try:
            df[c] = pd.to_numeric(df[c], errors="raise").astype(int)
        except (ValueError, TypeError) as exc:
            raise InputError(path, f"column '{c}' must be integers ({exc})") from exc
        if (df[c] < 0).any():
            raise InputError(path, f"column '{c}' has negative values")
    unflagged = df["selection"].str.startswith("oracle") & ~df["oracle"]
    if unflagged.any():
        raise InputError(path, f"selection {df.loc[unflagged, 'selection'].tolist()} uses the ground truth but "
                               "'oracle' is false")
    return df


def load_scores(score_csvs: Iterable[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """Concatenate score CSVs into one sorted frame; returns (per_sequence, paths that do not exist).

    A listed path that does not exist is not an error here (a failed job leaves none): it is returned so that the
    report lists it. Duplicate rows (same :data:`ROW_KEY`) across files raise InputError.
    """
    frames, absent = [], []
    for p in tqdm(list(score_csvs), desc="read scores", unit="file", mininterval=2.0):
        if not Path(p).exists():
            absent.append(str(p))
            continue
        frames.append(read_score_csv(p).assign(_source=str(p)))
    if not frames:
        return pd.DataFrame(columns=SCORE_COLUMNS), absent
    df = pd.concat(frames, ignore_index=True)
    dup = df.duplicated(ROW_KEY, keep=False)
    if dup.any():
        first = df.loc[dup].iloc[0]
        others = sorted(set(df.loc[dup & (df[ROW_KEY] == first[ROW_KEY]).all(axis=1), "_source"]))
        raise InputError(others[0], f"duplicate score row {dict(first[ROW_KEY])} (also in {others[1:]})")
    df = df.drop(columns="_source")
    return df.sort_values(ROW_KEY, kind="stable").reset_index(drop=True), absent


def find_missing(per_sequence: pd.DataFrame, expected: Sequence[dict] | None, absent: Sequence[str]) -> pd.DataFrame:
    """Expected (dataset, sequence, flow, tracks, method) results with no score rows, plus absent score files.

    expected: dicts with at least :data:`EXPECTED_COLS` (extra keys ignored; ``scores``, the path of its score file,
    names the absent file in the reason), or None (then only ``absent`` is listed). Keys come from the score rows and
    the expected dicts, never from a path: an absent file that no expected entry names is listed with empty keys.
    Returns columns ``dataset, sequence, flow, tracks, method, reason``.
    """
    have = set(map(tuple, per_sequence[EXPECTED_COLS].astype(str).itertuples(index=False, name=None))) \
        if len(per_sequence) else set()
    absent_set = {str(p) for p in absent}
    rows, named = [], set()
    for i, e in enumerate(expected or []):
        e = {"post": "none", **e}
        lacking = [c for c in EXPECTED_COLS if c not in e]
        if lacking:
            raise InputError("expected", f"entry {i} lacks keys {lacking}: {e}")
        key = tuple(str(e[c]) for c in EXPECTED_COLS)
        if key not in have:
            path = str(e.get("scores", ""))
            reason = f"score file not found: {path}" if path in absent_set else "no score rows (job failed or not run)"
            named.add(path)
            rows.append({**dict(zip(EXPECTED_COLS, key, strict=True)), "reason": reason})
    for p in absent:
        if str(p) not in named:
            rows.append({**dict.fromkeys(EXPECTED_COLS, ""), "reason": f"score file not found: {p}"})
    out = pd.DataFrame(rows, columns=[*EXPECTED_COLS, "reason"])
    return out.sort_values(EXPECTED_COLS, kind="stable").reset_index(drop=True)


def frame_csv_key(path: str | Path) -> tuple[str, str] | None:
    """(dataset, sequence) of a per-frame score CSV, read from its first row (None when it has no row or lacks
    those columns); reads one line, not the file."""
    try:
        with open(path, newline="") as fh:
            row = next(csv.DictReader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not row or "dataset" not in row or "sequence" not in row:
        return None
    return row["dataset"], row["sequence"]


def missing_counts(summary: pd.DataFrame, expected: Sequence[dict] | None) -> pd.DataFrame:
    """Add ``n_expected`` and ``complete`` to the summary (NaN/True when nothing was expected by the caller)."""
    summary = summary.copy()
    if not expected:
        summary["n_expected"] = pd.array([pd.NA] * len(summary), dtype="Int64")
        summary["complete"] = True
        return summary
    exp = pd.DataFrame([{c: str({"post": "none", **e}[c]) for c in EXPECTED_COLS} for e in expected])
    counts = exp.groupby(["dataset", "flow", "tracks", "method", "post"])["sequence"].nunique()
    n_exp = [counts.get((r.dataset, r.flow, r.tracks, r.method, r.post), 0) for r in summary.itertuples()]
    summary["n_expected"] = pd.array(n_exp, dtype="Int64")
    summary["complete"] = summary["n_sequences"] >= summary["n_expected"]
    return summary


def read_frame_csvs(frame_csvs: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate per-frame score CSVs (columns ``dataset, sequence, flow, tracks, method, frame, J`` required;
    ``F, mode, protocol, selection, oracle`` optional). Missing files are skipped with a log line (the per-sequence
    missing list already reports them). ``frame`` is kept as a string (frame name), J/F as float in [0, 1]."""
    frames = []
    for p in tqdm(list(frame_csvs), desc="read per-frame scores", unit="file", mininterval=2.0):
        if not Path(p).exists():
            log.warning("per-frame score file not found, skipped in the J-over-time plot: %s", p)
            continue
        try:
            df = pd.read_csv(p, dtype={c: str for c in [*STR_COLS, "frame"]}, keep_default_na=False,
                             na_values={c: ["", "nan", "NaN"] for c in ("J", "F")})
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(p, f"not a readable per-frame CSV ({exc})") from exc
        lacking = [c for c in FRAME_REQUIRED if c not in df.columns]
        if lacking:
            raise InputError(p, f"per-frame CSV lacks columns {lacking} (has {list(df.columns)})")
        if "oracle" in df.columns:
            df["oracle"] = parse_bool_column(df["oracle"], p, "oracle")
        for c in ("J", "F"):
            if c in df.columns:
                df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        if ((df["J"] < 0) | (df["J"] > 1)).any():
            raise InputError(p, "column 'J' must lie in [0, 1]")
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=FRAME_REQUIRED)
    out = pd.concat(frames, ignore_index=True)
    if "mode" not in out.columns:
        out["mode"] = ""
    out["mode"] = out["mode"].fillna("")
    return out
