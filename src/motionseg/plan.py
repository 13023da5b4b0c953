"""The workflow's plan: which (dataset, sequence, flow, tracks, method) jobs exist and where their files go.

``rules/common.smk`` builds one :class:`Plan` from the validated config and its input functions ask it for paths.
Keeping this logic in the package makes it testable and keeps the DAG fast: planning only lists directories (no
image is opened), so thousands of sequences cost milliseconds each (see ``bench/dag_scaling.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motionseg import paths
from motionseg.io.errors import ConfigError
from motionseg.registry import METHODS, pseudo_label_choices, spec
from motionseg.settings import Settings
from motionseg.train.config import check_workflow_selection, infer_config, train_config

NO_TRACKS = "none"
# Dataset keys that change where a sequence's frames and GT are found or how GT is read (motionseg.io.datasets);
# ``split`` only changes which sequences are listed, so no job reads it.
SEQUENCE_READER_KEYS = ("annotations", "resolution", "gt_threshold", "gt_thresholds")
# the ``mtnet`` keys an inference job reads (the rest only trains)
SUPERVISED_INFER_KEYS = ("device", "infer_clip_length")


def flow_id(backend: str) -> str:
    """Path-safe id of a flow backend (``ptlflow:flowformer`` -> ``ptlflow-flowformer``)."""
    return backend.replace(":", "-")


def _combo(dataset: str, flow: str, tracks: str, method: str, sequence: str) -> dict[str, str]:
    """The keys of one (dataset, flow, tracks, method, sequence) result, by name (for :mod:`motionseg.paths`)."""
    return {"dataset": dataset, "flow": flow, "tracks": tracks, "method": method, "sequence": sequence}


def _alternation(values: list[str]) -> str:
    return "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True)) or "(?!)"


@dataclass
class Plan:
    """Datasets, sequences, backend combinations and output paths of one workflow run."""

    config: dict[str, Any]
    settings: Settings
    results: str = "results"
    _sequences: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Plan:
        """Build the plan from a validated config (see config/schema.yaml, defaults filled): the typed
        :class:`~motionseg.settings.Settings` are built here, once, and kept as ``plan.settings``."""
        settings = Settings.from_dict(config)
        plan = cls(config=config, settings=settings, results=settings.results.rstrip("/"))
        names = [d["name"] for d in config["datasets"]]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ConfigError("datasets", f"dataset names must be unique, repeated: {sorted(dupes)}")
        for method in config["methods"]:
            if method not in METHODS:
                raise ConfigError("methods", f"unknown method '{method}' (known: {sorted(METHODS)})")
        for method in config["crf"]["methods"]:
            if method not in METHODS:
                raise ConfigError("crf.methods", f"unknown method '{method}' (known: {sorted(METHODS)})")
        for method in config["gtfree_propagation"]["methods"]:
            if method not in METHODS:
                raise ConfigError("gtfree_propagation.methods", f"unknown method '{method}' (known: {sorted(METHODS)})")
        from motionseg.propagate.semisup import check_source

        for source in config["semisup"]["sources"]:
            check_source(source, plan.flows)
        for d in config["dul"]["train_datasets"]:
            if d not in names:
                raise ConfigError("dul.train_datasets", f"no dataset named {d!r} (configured: {', '.join(names)})")
        snapshot = config["dul"]["snapshot"]
        if snapshot and plan.needs_dul and not Path(snapshot).is_file():
            raise ConfigError("dul.snapshot", f"{snapshot}: no such file (a DUL snapshot, e.g. a released "
                              "*_res4.pth, or null to train one with rule train_dul)")
        if any(spec(m).trained for m in config["methods"]):
            check_workflow_selection(settings.train)
        if plan.has_boot_methods:
            src = plan.pseudo_source
            if src not in pseudo_label_choices():
                raise ConfigError("train.pseudo_labels", f"the -boot methods need the name of a GT-free per-sequence "
                                  f"method without tracks (e.g. bgfit), optionally with +crf or +prop (its "
                                  f"post-processed masks), got {src!r}")
            if not (settings.train.loss_weights.pseudo or 0.0) > 0:
                raise ConfigError("train.loss_weights.pseudo", "the -boot methods need a pseudo-label weight > 0")
        if any(spec(m).combines for m in config["methods"]):
            plan._check_combine()
        plan._check_roles()
        if any(spec(m).supervised for m in config["methods"]):
            for d in plan.evaluated_datasets:
                plan._check_supervised_split(d)
        if "external" in config["methods"] and not config["external"]["root"]:
            raise ConfigError("external.root", "method external needs the folder of its result PNGs "
                              "(<root>/<sequence>/<frame>.png)")
        return plan

    def _check_combine(self) -> None:
        """Method ``combine`` combines at least 2 GT-free components that this run makes (``combine.methods``: each a
        method of ``methods``, its ``+crf`` / ``+prop`` version only when it is in ``crf.methods`` /
        ``gtfree_propagation.methods``); a component with tracks has one tracks variant per flow; ``combine`` itself
        gets no CRF / propagation stage (combine the components' post-processed masks instead). ConfigError naming
        the key otherwise."""
        key = "combine.methods"
        comps = self.combine_components()
        if len(comps) < 2:
            raise ConfigError(key, f"method combine needs at least 2 components, got "
                                   f"{self.config['combine']['methods']}")
        for (m, post), name in zip(comps, self.config["combine"]["methods"], strict=True):
            if m not in METHODS or spec(m).combines:
                raise ConfigError(key, f"{name!r}: not a method that can be combined (known: "
                                  f"{sorted(n for n in METHODS if not spec(n).combines)})")
            if m not in self.methods:
                raise ConfigError(key, f"{name!r}: {m} is not in `methods`, so this run makes no masks of it")
            if spec(m).oracle or self.supervision(m) not in ("none", "self-supervised"):
                raise ConfigError(key, f"{name!r}: a combination stays GT-free; {m} is "
                                  f"{'an oracle' if spec(m).oracle else self.supervision(m)}")
            if post == "crf" and m not in self.config["crf"]["methods"]:
                raise ConfigError(key, f"{name!r}: {m} is not in crf.methods, so it has no CRF masks")
            if post == "prop" and m not in self.config["gtfree_propagation"]["methods"]:
                raise ConfigError(key, f"{name!r}: {m} is not in gtfree_propagation.methods, so it has no "
                                  "propagated masks")
            if spec(m).uses_tracks:
                for f in self.flows:
                    ids = self.tracks_for_flow(f)
                    if len(ids) != 1:
                        raise ConfigError(key, f"{name!r}: {m} has {len(ids)} tracks variants for flow {f} "
                                          f"({', '.join(ids) or 'none'}); a component needs exactly one")
        for section in ("crf", "gtfree_propagation"):
            if any(m in METHODS and spec(m).combines for m in self.config[section]["methods"]):
                raise ConfigError(f"{section}.methods", "method combine has no post-processing stage of its own: "
                                  "list the components' post-processed masks in combine.methods (e.g. bgfit+prop)")

    def _check_roles(self) -> None:
        """``train_split`` names a dataset with ``role: train``; a dataset is not given both ways of supervised
        training; at least one dataset is evaluated."""
        if not self.evaluated_datasets:
            raise ConfigError("datasets", "every dataset has role: train; nothing would be segmented or scored")
        for d in self.config["datasets"]:
            key = f"datasets[{d['name']}]"
            if d.get("train_split") and d.get("cross_validation"):
                raise ConfigError(f"{key}.train_split", "give train_split or cross_validation, not both")
            split = d.get("train_split")
            if split is not None:
                if split not in self.dataset_names:
                    raise ConfigError(f"{key}.train_split", f"no dataset named {split!r}")
                if self.dataset(split).get("role") != "train":
                    raise ConfigError(f"{key}.train_split", f"dataset {split!r} must have role: train")

    def _check_supervised_split(self, dataset: str) -> None:
        """A supervised method never sees an evaluated sequence in training: ConfigError naming the key otherwise."""
        ds = self.dataset(dataset)
        key = f"datasets[{dataset}]"
        if ds.get("cross_validation"):
            k, n = int(ds["cross_validation"]), len(self.sequences(dataset))
            if n < k:
                raise ConfigError(f"{key}.cross_validation", f"{k} folds need at least {k} sequences, found {n}")
            return
        split = ds.get("train_split")
        if split is None:
            raise ConfigError(f"{key}.train_split", "a supervised method (mtnet) is configured: give this dataset a "
                              "train_split (a dataset with role: train) or cross_validation: <folds>")
        # a sequence is its folder: the same name under the same root (symlinks resolved) is the same video
        same_root = Path(ds["root"]).resolve() == Path(self.dataset(split)["root"]).resolve()
        both = sorted(set(self.sequences(dataset)) & set(self.sequences(split))) if same_root else []
        if both:
            raise ConfigError(f"{key}.train_split", f"sequences {both} are both evaluated here and training "
                              f"sequences of {split!r}: a supervised method would be scored on its training data")
        if not self.sequences(split):
            raise ConfigError(f"datasets[{split}]", "the training split has no sequences")

    # ------------------------------------------------------------------ datasets and sequences

    def dataset(self, name: str) -> dict[str, Any]:
        """The config entry of dataset ``name``."""
        for d in self.config["datasets"]:
            if d["name"] == name:
                return d
        raise ConfigError("datasets", f"no dataset named '{name}'")

    @property
    def dataset_names(self) -> list[str]:
        return [d["name"] for d in self.config["datasets"]]

    @property
    def evaluated_datasets(self) -> list[str]:
        """Datasets whose sequences every method segments (all but ``role: train`` ones, which only feed the
        supervised training)."""
        return [d["name"] for d in self.config["datasets"] if d.get("role", "evaluate") != "train"]

    def fold_of(self, dataset: str, sequence: str) -> str:
        """The supervised model that segments ``sequence``: ``fold<i>`` with ``cross_validation: k`` (sequences in
        name order, the i-th in fold i mod k), ``split`` with a ``train_split``."""
        k = self.dataset(dataset).get("cross_validation")
        if not k:
            return "split"
        return f"fold{sorted(self.sequences(dataset)).index(sequence) % int(k)}"

    def supervised_folds(self, dataset: str) -> list[str]:
        """The supervised models of ``dataset`` (see :meth:`fold_of`)."""
        k = self.dataset(dataset).get("cross_validation")
        return [f"fold{i}" for i in range(int(k))] if k else ["split"]

    def training_sequences(self, dataset: str, fold: str) -> tuple[str, list[str]]:
        """(dataset, sequences) a supervised model of ``dataset`` trains on: the ``train_split`` dataset's sequences,
        or, for ``fold<i>``, this dataset's sequences outside fold i."""
        if fold == "split":
            split = self.dataset(dataset).get("train_split")
            if split is None:
                raise ConfigError(f"datasets[{dataset}].train_split", "needed by the supervised methods")
            return split, self.sequences(split)
        return dataset, [s for s in self.sequences(dataset) if self.fold_of(dataset, s) != fold]

    def supervision(self, method: str) -> str:
        """What the rows of ``method`` say it was taught by: the registry's supervision, for ``external`` the
        config's ``external.supervision``, for ``combine`` ``self-supervised`` when a component is, else ``none``."""
        m = spec(method)
        if m.combines:
            comps = {self.supervision(c) for c, _ in self.combine_components() if c in METHODS and not spec(c).combines}
            return "self-supervised" if "self-supervised" in comps else "none"
        return str(self.config["external"]["supervision"]) if m.supervision == "declared" else m.supervision

    def sequences(self, dataset: str) -> list[str]:
        """Sequence names of ``dataset`` after the dataset's and the global ``sequences`` subsets."""
        if dataset not in self._sequences:
            ds = self.dataset(dataset)
            if "synthetic" in ds:
                from motionseg.synth import synth_sequence_names

                names = synth_sequence_names(int(ds["synthetic"]["n_sequences"]))
            else:
                from motionseg.io.datasets import list_sequences, reader_options

                names = list_sequences(ds["root"], ds["layout"], options=reader_options(ds))
            for key, subset in ((f"datasets[{dataset}].sequences", ds.get("sequences")),):
                if subset:
                    unknown = sorted(set(subset) - set(names))
                    if unknown:
                        raise ConfigError(key, f"sequences not found in {ds['root']}: {unknown}")
                    names = [n for n in names if n in set(subset)]
            wanted = self.config.get("sequences") or []
            if wanted:
                names = [n for n in names if n in set(wanted)]
            self._sequences[dataset] = names
        return self._sequences[dataset]

    def source_files(self, dataset: str, sequence: str) -> list[str]:
        """Input files of the ingest job of one sequence (so touching one frame reruns that sequence only)."""
        ds = self.dataset(dataset)
        root = Path(ds["root"])
        if "synthetic" in ds:
            return [str(root / paths.SYNTH_PARTS[part] / sequence) for part in ("frames", "masks")]
        from motionseg.io.datasets import reader_options, source_files

        return [str(p) for p in source_files(ds["root"], ds["layout"], sequence, options=reader_options(ds))]

    def gt_files(self, dataset: str, sequence: str) -> list[str]:
        """Ground-truth files of one sequence (inputs of its evaluation jobs); empty when it has no GT."""
        ds = self.dataset(dataset)
        if "synthetic" in ds:
            return [str(Path(ds["root"]) / paths.SYNTH_PARTS["masks"] / sequence)]
        from motionseg.io.datasets import gt_files, reader_options

        return [str(p) for p in gt_files(ds["root"], ds["layout"], sequence, options=reader_options(ds))]

    # ------------------------------------------------------------------ backends and combinations

    @property
    def flow_backends(self) -> dict[str, str]:
        """flow id -> flow backend name."""
        return {flow_id(b): b for b in self.config["flow"]["backends"]}

    @property
    def flows(self) -> list[str]:
        return list(self.flow_backends)

    def tracks_for_flow(self, flow: str) -> list[str]:
        """Track ids usable with flow id ``flow``: ``flowchain-<flow>`` and the CoTracker backends."""
        out = []
        for b in self.config["tracks"]["backends"]:
            out.append(f"flowchain-{flow}" if b == "flowchain" else b)
        return out

    def tracks_backend(self, tracks: str) -> tuple[str, str | None]:
        """(backend, flow id or None) of a track id."""
        if tracks.startswith("flowchain-"):
            return "flowchain", tracks[len("flowchain-") :]
        return tracks, None

    @property
    def tracks_ids(self) -> list[str]:
        ids = {t for f in self.flows for t in self.tracks_for_flow(f)}
        return sorted(ids | {NO_TRACKS})

    @property
    def methods(self) -> list[str]:
        return list(self.config["methods"])

    @property
    def has_boot_methods(self) -> bool:
        return any(spec(m).pseudo_labels for m in self.methods)

    @property
    def pseudo_source(self) -> str | None:
        """The per-sequence method whose masks the ``-boot`` methods learn from (``train.pseudo_labels``), or None
        when no ``-boot`` method is configured."""
        return self.config["train"].get("pseudo_labels") if self.has_boot_methods else None

    @property
    def pseudo_teacher(self) -> tuple[str, str | None] | None:
        """(method, post) of :attr:`pseudo_source`: ``bgfit`` -> (bgfit, None), ``bgfit+prop`` -> (bgfit, prop); None
        without ``-boot`` methods."""
        src = self.pseudo_source
        if src is None:
            return None
        method, _, post = src.partition("+")
        return method, post or None

    def pseudo_masks(self, dataset: str, flow: str, sequence: str) -> str:
        """The mask directory a ``-boot`` method learns from for one sequence: the teacher method's masks, or their
        CRF / GT-free propagation version (``train.pseudo_labels: <method>+crf|+prop``)."""
        method, post = self.pseudo_teacher
        return self.post_masks((dataset, flow, NO_TRACKS, method, sequence), post)

    def post_masks(self, key: tuple[str, str, str, str, str], post: str | None) -> str:
        """The mask directory of (dataset, flow, tracks, method, sequence) ``key``: the method's own masks (``post``
        None), or their CRF (``crf``) / GT-free propagation (``prop``) version."""
        if post == "crf":
            return self.crf_masks(*key)
        if post == "prop":
            return self._prop_path(paths.prop_masks, key)
        return self.masks(*key)

    def training_regex(self, supervised: bool) -> str:
        """Regex alternation of the configured trained methods whose training is (or is not) supervised (rules
        ``train_supervised`` and ``train``)."""
        return _alternation([m for m in self.methods if spec(m).trained and spec(m).supervised == supervised])

    def method_regex(self, trained: bool) -> str:
        """Regex alternation of the configured methods that are (or are not) trained networks, ``combine`` in
        neither (:meth:`combine_method_regex`); the per-sequence alternation also holds the pseudo-label source of the
        ``-boot`` methods (its masks are their inputs)."""
        names = [m for m in self.methods if spec(m).trained == trained and not spec(m).combines]
        if not trained and self.pseudo_teacher:
            names.append(self.pseudo_teacher[0])
        return _alternation(names)

    def combine_method_regex(self) -> str:
        """Regex alternation of the configured methods that combine other methods' masks (``combine``): rules
        ``combine``, ``evaluate_combine``, ``instances_combine`` and ``overlay_combine``, after every other method's
        (their own SLURM job group: slurm/config.yaml)."""
        return _alternation([m for m in self.methods if spec(m).combines])

    def combine_components(self) -> list[tuple[str, str | None]]:
        """(method, post) of each entry of ``combine.methods``: ``bgfit`` -> (bgfit, None), ``bgfit+prop`` ->
        (bgfit, prop)."""
        return [(m, post or None) for m, _, post in (c.partition("+") for c in self.config["combine"]["methods"])]

    def combine_inputs(self, dataset: str, flow: str, sequence: str) -> list[str]:
        """The mask directories method ``combine`` reads for one sequence, in the order of ``combine.methods``: each
        component's raw, CRF or propagated masks (a component with tracks: its one tracks variant of ``flow``)."""
        return [self.post_masks((dataset, flow, self.tracks_for_flow(flow)[0] if spec(m).uses_tracks else NO_TRACKS,
                                 m, sequence), post)
                for m, post in self.combine_components()]

    def _with_teacher(self, names: list[str], post: str, trained: bool) -> list[str]:
        """``names`` plus the pseudo-label teacher when the ``-boot`` methods learn from its ``post`` version (the
        post-processing rule must be able to make those masks even when the teacher is not in that stage's list)."""
        teacher = self.pseudo_teacher
        if not trained and teacher and teacher[1] == post and teacher[0] not in names:
            return [*names, teacher[0]]
        return names

    def crf_method_regex(self, trained: bool) -> str:
        """Regex alternation of the CRF methods (:attr:`crf_methods`) that are (or are not) trained networks."""
        return _alternation(self._with_teacher([m for m in self.crf_methods if spec(m).trained == trained], "crf",
                                               trained))

    # Each rule's params are exactly what its job reads (docs/architecture.md, "Rule params"): the methods below
    # slice the config per job, so an edit reruns only the jobs that read the edited setting.

    def flow_config(self, flow: str) -> dict:
        """Settings of the flow jobs of flow id ``flow`` (:func:`motionseg.flow.config.backend_config`)."""
        from motionseg.flow.config import backend_config

        return backend_config(self.settings.flow, self.flow_backends[flow])

    def flow_seed(self, flow: str) -> int | None:
        """The global seed where the flow jobs of ``flow`` read it (random initialisation of a learned backend
        without a checkpoint), else None (:func:`motionseg.flow.config.reads_seed`)."""
        from motionseg.flow.config import reads_seed

        return self.settings.seed if reads_seed(self.settings.flow.to_dict(), self.flow_backends[flow]) else None

    def tracks_config(self, tracks: str) -> dict:
        """Settings of the tracks jobs of track id ``tracks`` (:func:`motionseg.tracks.config.backend_config`)."""
        from motionseg.tracks.config import backend_config

        return backend_config(self.settings.tracks, self.tracks_backend(tracks)[0])

    def method_config(self, method: str) -> dict:
        """Settings of a per-sequence method (:func:`motionseg.methods.method_config`)."""
        from motionseg.methods import method_config

        return method_config(self.settings, method)

    def train_config(self, method: str | None = None) -> dict:
        """Settings of the ``train`` rule for ``method`` (:func:`motionseg.train.config.train_config`)."""
        return train_config(self.settings, method)

    def infer_config(self, method: str) -> dict:
        """Settings of the ``infer`` rule for ``method`` (:func:`motionseg.train.config.infer_config`; a supervised
        method's: :meth:`supervised_infer_config`)."""
        if spec(method).supervised:
            return self.supervised_infer_config()
        return infer_config(self.settings, method)

    def supervised_train_config(self) -> dict:
        """Settings of the ``train_supervised`` rule: the ``mtnet`` section."""
        return self.settings.mtnet.to_dict()

    def supervised_infer_config(self) -> dict:
        """Settings of a supervised method's ``infer`` job: the ``mtnet`` keys inference reads (the network's shape
        comes from its checkpoint)."""
        cfg = self.settings.mtnet.to_dict()
        return {k: cfg[k] for k in SUPERVISED_INFER_KEYS}

    def ingest_dataset(self, name: str) -> dict[str, Any]:
        """What an ingest job reads of dataset ``name``: its ``name``, ``layout``, ``root`` and the reader options
        that locate a sequence's frames and GT (:data:`SEQUENCE_READER_KEYS`), not its protocol, flow gaps or
        sequence subset, which other stages read."""
        ds = self.dataset(name)
        return {k: ds[k] for k in ("name", "layout", "root", *SEQUENCE_READER_KEYS) if k in ds}

    def synth_config(self, name: str) -> dict[str, Any]:
        """What a synth job reads of the ``synthetic`` block of dataset ``name``: everything but ``n_sequences``
        (the plan lists that many sequences; a job generates one by its index)."""
        return {k: v for k, v in self.dataset(name)["synthetic"].items() if k != "n_sequences"}

    def combos(self) -> list[tuple[str, str, str]]:
        """All (flow, tracks, method) combinations; tracks is ``none`` for methods that use none."""
        out = []
        for f in self.flows:
            for m in self.methods:
                if spec(m).uses_tracks:
                    out.extend((f, t, m) for t in self.tracks_for_flow(f))
                else:
                    out.append((f, NO_TRACKS, m))
        return out

    def regex(self, what: str) -> str:
        """Regex alternation of the configured ``datasets``, ``flows``, ``tracks_ids`` or ``methods``."""
        values = {
            "datasets": self.dataset_names,
            "flows": self.flows,
            "tracks_ids": self.tracks_ids,
            "methods": self.methods + ([self.pseudo_teacher[0]] if self.pseudo_teacher else []),
        }[what]
        return _alternation(values)

    def gaps(self, dataset: str) -> list[int]:
        """Flow gaps of ``dataset`` (its ``flow_gaps`` or the global ``flow.gaps``)."""
        return list(self.dataset(dataset).get("flow_gaps") or self.config["flow"]["gaps"])

    # ------------------------------------------------------------------ paths

    # Every path comes from motionseg.paths, the templates the rules use too.

    def frames(self, dataset: str, sequence: str) -> str:
        return paths.frames(self.results, dataset=dataset, sequence=sequence)

    def flow(self, dataset: str, flow: str, sequence: str) -> str:
        return paths.flow(self.results, dataset=dataset, flow=flow, sequence=sequence)

    def tracks(self, dataset: str, tracks: str, sequence: str) -> str:
        return paths.tracks(self.results, dataset=dataset, tracks=tracks, sequence=sequence)

    def model(self, dataset: str, flow: str, tracks: str, method: str) -> str:
        return paths.model(self.results, dataset=dataset, flow=flow, tracks=tracks, method=method)

    def supervised_model(self, dataset: str, flow: str, tracks: str, method: str, fold: str) -> str:
        return paths.supervised_model(self.results, dataset=dataset, flow=flow, tracks=tracks, method=method,
                                      fold=fold)

    def masks(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.masks(self.results, **_combo(dataset, flow, tracks, method, sequence))

    def scores(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.scores(self.results, **_combo(dataset, flow, tracks, method, sequence))

    def frame_scores(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.frame_scores(self.results, **_combo(dataset, flow, tracks, method, sequence))

    def instances(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.instances(self.results, **_combo(dataset, flow, tracks, method, sequence))

    def crf_masks(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.crf_masks(self.results, **_combo(dataset, flow, tracks, method, sequence))

    def crf_scores(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.crf_scores(self.results, **_combo(dataset, flow, tracks, method, sequence))

    def crf_frame_scores(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        return paths.crf_frame_scores(self.results, **_combo(dataset, flow, tracks, method, sequence))

    @property
    def crf_methods(self) -> list[str]:
        """The configured methods that also get a dense-CRF version (``crf.methods`` in ``methods`` order; a
        listed method that is not run is ignored, so a dataset config can change ``methods`` alone)."""
        wanted = set(self.config["crf"]["methods"])
        return [m for m in self.methods if m in wanted]

    def crf_keys(self) -> list[tuple[str, str, str, str, str]]:
        """(dataset, flow, tracks, method, sequence) of every expected CRF score file."""
        crf = set(self.crf_methods)
        return [k for k in self.scored_keys() if k[3] in crf]

    def has_gt(self, dataset: str, sequence: str) -> bool:
        """Whether a sequence has ground truth (and is therefore scored); synthetic data always has it."""
        return "synthetic" in self.dataset(dataset) or bool(self.gt_files(dataset, sequence))

    def scored_sequences(self, dataset: str) -> list[str]:
        """Sequences of ``dataset`` with ground truth (the others get masks but no scores)."""
        return [s for s in self.sequences(dataset) if self.has_gt(dataset, s)]

    def scored_keys(self) -> list[tuple[str, str, str, str, str]]:
        """(dataset, flow, tracks, method, sequence) of every expected score file, in report order."""
        return [
            (d, f, t, m, s) for d in self.evaluated_datasets for s in self.scored_sequences(d)
            for f, t, m in self.combos()
        ]

    def all_scores(self) -> list[str]:
        """Every expected score CSV: the raw masks', then the CRF versions' (``post=crf`` rows)."""
        return ([self.scores(*k) for k in self.scored_keys()] + [self.crf_scores(*k) for k in self.crf_keys()]
                + [self._prop_path(paths.prop_scores, k) for k in self.prop_keys()])

    def _prop_path(self, template: Any, key: tuple[str, str, str, str, str]) -> str:
        d, f, t, m, s = key
        return template(self.results, dataset=d, flow=f, tracks=t, method=m, sequence=s)

    def unscored_masks(self) -> list[str]:
        """Mask directories of sequences without ground truth (final targets: nothing to score them against)."""
        return [
            self.masks(d, f, t, m, s)
            for d in self.evaluated_datasets
            for s in self.sequences(d)
            if not self.has_gt(d, s)
            for f, t, m in self.combos()
        ]

    def all_frame_scores(self) -> list[str]:
        return [self.frame_scores(*k) for k in self.scored_keys()] + [
            self.crf_frame_scores(*k) for k in self.crf_keys()
        ] + [self._prop_path(paths.prop_frame_scores, k) for k in self.prop_keys()]

    def expected_rows(self) -> list[dict[str, str]]:
        """One dict per expected (dataset, sequence, flow, tracks, method, post): what the report must account for,
        with the path of its score file (``scores``), so that the report names an absent file without parsing paths."""
        raw = [
            {"dataset": d, "sequence": s, "flow": f, "tracks": t, "method": m, "post": "none",
             "scores": self.scores(d, f, t, m, s)}
            for d, f, t, m, s in self.scored_keys()
        ]
        crf = [
            {"dataset": d, "sequence": s, "flow": f, "tracks": t, "method": m, "post": "crf",
             "scores": self.crf_scores(d, f, t, m, s)}
            for d, f, t, m, s in self.crf_keys()
        ]
        prop = [
            {"dataset": k[0], "sequence": k[4], "flow": k[1], "tracks": k[2], "method": k[3], "post": "prop",
             "scores": self._prop_path(paths.prop_scores, k)}
            for k in self.prop_keys()
        ]
        return raw + crf + prop

    def overlays(self) -> list[str]:
        """Mask-overlay GIFs: the first ``report.overlays_per_dataset`` sequences of each dataset, every combo."""
        n = int(self.config["report"]["overlays_per_dataset"])
        return [
            self.overlay(d, f, t, m, s)
            for d in self.evaluated_datasets
            for s in self.sequences(d)[:n]
            for f, t, m in self.combos()
        ]

    def track_overlays(self) -> list[str]:
        """Track-overlay GIFs for the same sequences as :meth:`overlays`, one per track id in use."""
        n = int(self.config["report"]["overlays_per_dataset"])
        used = sorted({t for _, t, _ in self.combos() if t != NO_TRACKS})
        return [
            paths.track_overlay(self.results, dataset=d, tracks=t, sequence=s)
            for d in self.evaluated_datasets
            for s in self.sequences(d)[:n]
            for t in used
        ]

    def flow_strips(self) -> list[str]:
        """Flow-visualisation strips for the same sequences as :meth:`overlays`, one per flow backend."""
        n = int(self.config["report"]["overlays_per_dataset"])
        return [
            paths.flow_strip(self.results, dataset=d, flow=f, sequence=s)
            for d in self.evaluated_datasets
            for s in self.sequences(d)[:n]
            for f in self.flows
        ]

    def overlay(self, dataset: str, flow: str, tracks: str, method: str, sequence: str, ext: str = "gif") -> str:
        """Mask-overlay file of one sequence and combination: ``gif``, ``mp4`` or ``html`` (rule ``overlay``)."""
        return paths.overlay(self.results, ext, **_combo(dataset, flow, tracks, method, sequence))

    def export(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> str:
        """Export directory of one mask directory (rule ``export``, :mod:`motionseg.io.export`)."""
        return paths.export(self.results, **_combo(dataset, flow, tracks, method, sequence))

    @property
    def export_enabled(self) -> bool:
        """Whether every sequence is exported and gets an overlay (config ``export.enabled``)."""
        return bool(self.config["export"]["enabled"])

    def export_config(self) -> dict[str, Any]:
        """What an export job reads of the ``export`` settings: everything but ``enabled`` (which chooses targets)."""
        return {k: v for k, v in self.settings.export.to_dict().items() if k != "enabled"}

    def export_outputs(self) -> list[str]:
        """Extra default targets with ``export.enabled``: the export directory and the mask-overlay GIF (its MP4 and
        HTML page come with it) of every sequence of every dataset, every combo; empty when disabled."""
        if not self.export_enabled:
            return []
        keys = [(d, f, t, m, s) for d in self.evaluated_datasets for s in self.sequences(d)
                for f, t, m in self.combos()]
        return [p for k in keys for p in (self.export(*k), self.overlay(*k))]

    def flow_meta_inputs(self) -> list[str]:
        """One flow directory per (dataset, flow backend): the report reads backend/checkpoint provenance there."""
        return [self.flow(d, f, self.sequences(d)[0]) for d in self.evaluated_datasets if self.sequences(d)
                for f in self.flows]

    def tracks_meta_inputs(self) -> list[str]:
        """One track file per (dataset, track id in use), for provenance (see :meth:`flow_meta_inputs`)."""
        used = sorted({t for _, t, _ in self.combos() if t != NO_TRACKS})
        return [self.tracks(d, t, self.sequences(d)[0]) for d in self.evaluated_datasets if self.sequences(d)
                for t in used]

    @staticmethod
    def existing(paths: list[str]) -> list[str]:
        """The paths that exist now (inputs of ``report_partial``, which must not trigger missing work)."""
        return [p for p in paths if Path(p).exists()]

    def report_outputs(self) -> list[str]:
        """Default targets: the score reports (when anything has GT), the semi-supervised report, overlays,
        strips, and unscored masks."""
        names = ("summary.csv", "per_sequence.csv", "table.md")
        tables = [paths.report(self.results, n) for n in names] if self.all_scores() else []
        return [*tables, *self.semisup_report_outputs(), *self.overlays(), *self.track_overlays(),
                *self.flow_strips(), *self.unscored_masks()]

    # ------------------------------------------------------------------ semi-supervised task and DUL

    @property
    def semisup_sources(self) -> list[str]:
        """Label sources of the semi-supervised task (``semisup.sources``; empty = no task), ``flow`` expanded to
        ``flow-<id>`` for every configured flow backend."""
        out: list[str] = []
        for src in self.config["semisup"]["sources"]:
            for s in ([f"flow-{f}" for f in self.flows] if src == "flow" else [src]):
                if s not in out:
                    out.append(s)
        return out

    @property
    def needs_dul(self) -> bool:
        """Whether any job reads DUL features (semi-supervised source ``dul`` or GT-free propagation on ``dul``)."""
        gf = self.config["gtfree_propagation"]
        return "dul" in self.semisup_sources or (bool(self.prop_methods) and gf["features"] == "dul")

    def dul_trainset(self, dataset: str) -> str:
        """The name of the DUL network ``dataset`` uses: ``dul.train_datasets`` joined by ``+``, or the dataset."""
        names = list(self.config["dul"]["train_datasets"])
        return "+".join(names) if names else dataset

    def dul_trainsets(self) -> list[str]:
        """Every DUL network the plan trains (none with ``dul.snapshot``)."""
        if self.config["dul"]["snapshot"] or not self.needs_dul:
            return []
        return sorted({self.dul_trainset(d) for d in self.evaluated_datasets})

    def dul_model(self, dataset: str) -> str:
        """The DUL snapshot ``dataset`` propagates with: ``dul.snapshot`` or the trained network."""
        snap = self.config["dul"]["snapshot"]
        return str(snap) if snap else paths.dul_model(self.results, trainset=self.dul_trainset(dataset))

    def dul_train_frames(self, trainset: str) -> list[str]:
        """Ingested frames a DUL network trains on (every sequence of its datasets; frames only, no GT)."""
        names = trainset.split("+")
        return [self.frames(d, s) for d in names for s in self.sequences(d)]

    def dul_config(self) -> dict[str, Any]:
        """What a train_dul job reads: the ``dul`` section without ``snapshot`` and ``train_datasets``."""
        return self.settings.dul.train_params()

    def semisup_keys(self) -> list[tuple[str, str, str]]:
        """(dataset, source, sequence) of every semi-supervised prediction: evaluated datasets' sequences with GT."""
        return [(d, src, s) for d in self.evaluated_datasets for src in self.semisup_sources
                for s in self.scored_sequences(d)]

    def semisup_scores(self) -> list[str]:
        return [paths.semisup_scores(self.results, dataset=d, source=src, sequence=s)
                for d, src, s in self.semisup_keys()]

    def semisup_report_outputs(self) -> list[str]:
        """The semi-supervised report's files (none without semi-supervised predictions)."""
        if not self.semisup_keys():
            return []
        return [paths.report(self.results, f"semisup/{n}") for n in ("per_sequence.csv", "summary.csv", "table.md")]

    def propagate_inputs(self, dataset: str, source: str, sequence: str) -> dict[str, Any]:
        """Inputs of rule ``propagate``: the frames, the GT files, and the flow (``flow-*``) or DUL model (``dul``)."""
        inputs: dict[str, Any] = {"frames": self.frames(dataset, sequence), "gt": self.gt_files(dataset, sequence)}
        if source.startswith("flow-"):
            inputs["flow"] = self.flow(dataset, source[len("flow-"):], sequence)
        elif source == "dul":
            inputs["model"] = self.dul_model(dataset)
        return inputs

    def propagation_config(self) -> dict[str, Any]:
        """What a propagate job reads: the ``propagation`` section."""
        return self.settings.propagation.to_dict()

    def source_regex(self) -> str:
        return _alternation(self.semisup_sources or ["lab"])

    def trainset_regex(self) -> str:
        sets = {self.dul_trainset(d) for d in self.evaluated_datasets}
        return _alternation(sorted(sets))

    # ------------------------------------------------------------------ GT-free propagation stage

    @property
    def prop_methods(self) -> list[str]:
        """Methods (among those run) whose masks also get the GT-free propagation stage (``post=prop`` rows)."""
        wanted = set(self.config["gtfree_propagation"]["methods"])
        return [m for m in self.methods if m in wanted]

    def prop_keys(self) -> list[tuple[str, str, str, str, str]]:
        """(dataset, flow, tracks, method, sequence) of every expected GT-free propagation score file."""
        prop = set(self.prop_methods)
        return [k for k in self.scored_keys() if k[3] in prop]

    def prop_method_regex(self, trained: bool) -> str:
        return _alternation(self._with_teacher([m for m in self.prop_methods if spec(m).trained == trained], "prop",
                                               trained))

    def prop_inputs(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> dict[str, str]:
        inputs = {"frames": self.frames(dataset, sequence),
                  "masks": self.masks(dataset, flow, tracks, method, sequence)}
        if self.config["gtfree_propagation"]["features"] == "dul":
            inputs["model"] = self.dul_model(dataset)
        return inputs

    def evaluate_prop_inputs(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> dict[str, Any]:
        """Inputs of the evaluation of a method's propagated masks (single-object rows only, ``post=prop``)."""
        return {"masks": paths.prop_masks(self.results, dataset=dataset, flow=flow, tracks=tracks, method=method,
                                          sequence=sequence),
                "gt": self.gt_files(dataset, sequence)}

    def gtfree_propagation_config(self) -> dict[str, Any]:
        """What a GT-free propagation job reads: ``features``, ``confidence`` and ``n_seeds`` plus the ``propagation``
        section."""
        gf = self.settings.gtfree_propagation
        return {"features": gf.features, "confidence": gf.confidence, "n_seeds": gf.n_seeds,
                **self.propagation_config()}

    # ------------------------------------------------------------------ rule inputs and resources

    def flow_gpu(self, flow: str) -> int:
        from motionseg.flow import is_learned

        return int(is_learned(self.flow_backends[flow]))

    def tracks_gpu(self, tracks: str) -> int:
        from motionseg.tracks import is_learned

        return int(is_learned(self.tracks_backend(tracks)[0]))

    def method_gpu(self, method: str) -> int:
        return int(spec(method).gpu)

    def tracks_inputs(self, dataset: str, tracks: str, sequence: str) -> dict[str, str]:
        backend, flow = self.tracks_backend(tracks)
        inputs = {"frames": self.frames(dataset, sequence)}
        if flow is not None:
            inputs["flow"] = self.flow(dataset, flow, sequence)
        return inputs

    def train_inputs(self, dataset: str, flow: str, tracks: str, method: str) -> dict[str, list[str]]:
        seqs = self.sequences(dataset)
        inputs = {
            "frames": [self.frames(dataset, s) for s in seqs],
            "flow": [self.flow(dataset, flow, s) for s in seqs],
        }
        if tracks != NO_TRACKS:
            inputs["tracks"] = [self.tracks(dataset, tracks, s) for s in seqs]
        if spec(method).pseudo_labels:
            inputs["pseudo"] = [self.pseudo_masks(dataset, flow, s) for s in seqs]
        return inputs

    def supervised_train_inputs(self, dataset: str, flow: str, tracks: str, method: str,
                                fold: str) -> dict[str, list[str]]:
        """Inputs of a supervised model (rule ``train_supervised``): frames, flow and GT files of its training
        sequences (:meth:`training_sequences`)."""
        src, seqs = self.training_sequences(dataset, fold)
        return {
            "frames": [self.frames(src, s) for s in seqs],
            "flow": [self.flow(src, flow, s) for s in seqs],
            "gt": [g for s in seqs for g in self.gt_files(src, s)],
        }

    def segment_inputs(self, dataset: str, flow: str, tracks: str, method: str,
                       sequence: str) -> dict[str, str | list[str]]:
        inputs = {"frames": self.frames(dataset, sequence)}
        if spec(method).uses_flow:
            inputs["flow"] = self.flow(dataset, flow, sequence)
        if spec(method).supervised:
            inputs["model"] = self.supervised_model(dataset, flow, tracks, method, self.fold_of(dataset, sequence))
        elif spec(method).trained:
            inputs["model"] = self.model(dataset, flow, tracks, method)
        if tracks != NO_TRACKS:
            inputs["tracks"] = self.tracks(dataset, tracks, sequence)
        if spec(method).combines:
            inputs["components"] = self.combine_inputs(dataset, flow, sequence)
        return inputs

    def dataset_params(self, name: str) -> dict[str, Any]:
        """What an evaluate job reads of dataset ``name``: ``layout``, ``root``, ``protocol`` and ``objects`` (when
        set) and the GT reader options; not the ``sequences`` subset, flow gaps or synthetic settings, so that
        changing those does not rerun the evaluation of sequences whose masks stay."""
        ds = self.dataset(name)
        return {k: ds[k] for k in ("layout", "root", "protocol", "objects", *SEQUENCE_READER_KEYS) if k in ds}

    def reader_params(self, name: str) -> dict[str, Any]:
        """What a job that only reads a dataset's frames and GT reads of its entry: ``layout``, ``root`` and the GT
        reader options (not the protocol: the semi-supervised jobs have their own)."""
        ds = self.dataset(name)
        return {k: ds[k] for k in ("layout", "root", *SEQUENCE_READER_KEYS) if k in ds}

    def multi_object(self, dataset: str) -> bool:
        """Whether ``dataset`` is scored with the multi-object protocol too (``objects: multi``)."""
        return self.dataset(dataset).get("objects") == "multi"

    def evaluate_inputs(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> dict[str, Any]:
        inputs = {
            "masks": self.masks(dataset, flow, tracks, method, sequence),
            "gt": self.gt_files(dataset, sequence),
        }
        if self.multi_object(dataset):
            inputs["instances"] = self.instances(dataset, flow, tracks, method, sequence)
        return inputs

    def evaluate_crf_inputs(self, dataset: str, flow: str, tracks: str, method: str, sequence: str) -> dict[str, Any]:
        """Inputs of the evaluation of a method's CRF masks (single-object rows only, ``post=crf``)."""
        return {
            "masks": self.crf_masks(dataset, flow, tracks, method, sequence),
            "gt": self.gt_files(dataset, sequence),
        }

    def multiobject_config(self) -> dict[str, Any]:
        """What an instances job reads: the ``multiobject`` section."""
        return self.settings.multiobject.to_dict()

    def crf_config(self) -> dict[str, Any]:
        """What a crf job reads: the ``crf`` section without ``methods`` (which chooses the jobs)."""
        return self.settings.crf.params()
