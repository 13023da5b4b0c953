# Stage 5: aggregate reports (motionseg.report): per-sequence and summary CSVs, a paper-style markdown table with the
# published figures beside ours, plots, mask and track overlays, and provenance.


rule report:
    input:
        scores=PLAN.all_scores(),
        frames=PLAN.all_frame_scores(),
        flow_meta=PLAN.flow_meta_inputs(),
        tracks_meta=PLAN.tracks_meta_inputs(),
    output:
        summary=report(
            paths.report(R, "summary.csv"),
            caption="../report/summary.rst",
            category="Scores",
            labels={"table": "summary"},
        ),
        per_sequence=report(
            paths.report(R, "per_sequence.csv"),
            caption="../report/per_sequence.rst",
            category="Scores",
            labels={"table": "per sequence"},
        ),
        table=report(
            paths.report(R, "table.md"),
            caption="../report/table.rst",
            category="Scores",
            labels={"table": "paper-style"},
        ),
        table_html=report(
            paths.report(R, "table.html"),
            caption="../report/table.rst",
            category="Scores",
            labels={"table": "paper-style (web page)"},
        ),
        missing=report(
            paths.report(R, "missing.csv"),
            caption="../report/missing.rst",
            category="Scores",
            labels={"table": "missing or failed"},
        ),
        provenance=report(
            paths.report(R, "provenance.json"),
            caption="../report/provenance.rst",
            category="Scores",
            labels={"table": "provenance"},
        ),
        plots=report(
            directory(paths.report(R, "plots")),
            patterns=["{kind}__{dataset}__{protocol}__{group}.png"],
            caption="../report/plots.rst",
            category="Plots",
            subcategory="{dataset}",
            labels={"plot": "{kind}", "protocol": "{protocol}", "rows": "{group}"},
        ),
    log:
        paths.log(R, "report", "report"),
    benchmark:
        paths.benchmark(R, "report", "report")
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        cfg=PLAN.settings.report.to_dict(),
        expected=PLAN.expected_rows(),
        config=config,
    script:
        "../scripts/report.py"


rule overlay:
    input:
        frames=rules.ingest.output.frames,
        masks=rules.segment.output.masks,
    output:
        gif=paths.overlay(R, "gif"),
        mp4=paths.overlay(R, "mp4"),
        html=report(
            paths.overlay(R, "html"),
            caption="../report/overlay.rst",
            category="Overlays",
            subcategory="{dataset}",
            labels={
                "sequence": "{sequence}",
                "method": "{method}",
                "flow": "{flow}",
                "tracks": "{tracks}",
            },
        ),
    log:
        paths.log(R, "overlay", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "overlay", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_PER_SEQUENCE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        overlay=PLAN.settings.report.overlay.to_dict(),
    script:
        "../scripts/overlay.py"


# The overlays of the trained methods: the same rule, in the SLURM job group of `infer` (see rules/evaluate.smk).
use rule overlay as overlay_trained with:
    wildcard_constraints:
        method=PLAN_TRAINED_METHODS,


use rule overlay as overlay_combine with:
    wildcard_constraints:
        method=PLAN_COMBINE_METHODS,


rule track_overlay:
    input:
        frames=rules.ingest.output.frames,
        tracks=rules.tracks.output.tracks,
    output:
        gif=report(
            paths.track_overlay(R),
            caption="../report/track_overlay.rst",
            category="Tracks",
            subcategory="{dataset}",
            labels={"sequence": "{sequence}", "tracks": "{tracks}"},
        ),
    log:
        paths.log(R, "track_overlay", paths.TRACKS_SEQ),
    benchmark:
        paths.benchmark(R, "track_overlay", paths.TRACKS_SEQ)
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    script:
        "../scripts/track_overlay.py"


rule flow_strip:
    input:
        frames=rules.ingest.output.frames,
        flow=rules.flow.output.flow,
    output:
        png=report(
            paths.flow_strip(R),
            caption="../report/flow_strip.rst",
            category="Flow",
            subcategory="{dataset}",
            labels={"sequence": "{sequence}", "flow": "{flow}"},
        ),
    log:
        paths.log(R, "flow_strip", paths.FLOW_SEQ),
    benchmark:
        paths.benchmark(R, "flow_strip", paths.FLOW_SEQ)
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        n_frames=PLAN.settings.report.flow_strip.n_frames,
    script:
        "../scripts/flow_strip.py"


rule report_partial:
    # After a `--keep-going` run in which some sequences failed, `snakemake report_partial` aggregates the scores that
    # exist and lists every expected-but-missing sequence in missing.csv (the full `report` needs every score).
    input:
        scores=PLAN.existing(PLAN.all_scores()),
        frames=PLAN.existing(PLAN.all_frame_scores()),
        flow_meta=PLAN.existing(PLAN.flow_meta_inputs()),
        tracks_meta=PLAN.existing(PLAN.tracks_meta_inputs()),
    output:
        summary=paths.report(R, "partial/summary.csv"),
        missing=paths.report(R, "partial/missing.csv"),
    log:
        paths.log(R, "report", "report_partial"),
    benchmark:
        paths.benchmark(R, "report", "report_partial")
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        cfg=PLAN.settings.report.to_dict(),
        expected=PLAN.expected_rows(),
        config=config,
    script:
        "../scripts/report.py"
