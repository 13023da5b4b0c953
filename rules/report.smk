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
            f"{R}/reports/summary.csv",
            caption="../report/summary.rst",
            category="Scores",
            labels={"table": "summary"},
        ),
        per_sequence=report(
            f"{R}/reports/per_sequence.csv",
            caption="../report/per_sequence.rst",
            category="Scores",
            labels={"table": "per sequence"},
        ),
        table=report(
            f"{R}/reports/table.md",
            caption="../report/table.rst",
            category="Scores",
            labels={"table": "paper-style"},
        ),
        table_html=report(
            f"{R}/reports/table.html",
            caption="../report/table.rst",
            category="Scores",
            labels={"table": "paper-style (web page)"},
        ),
        missing=report(
            f"{R}/reports/missing.csv",
            caption="../report/missing.rst",
            category="Scores",
            labels={"table": "missing or failed"},
        ),
        provenance=report(
            f"{R}/reports/provenance.json",
            caption="../report/provenance.rst",
            category="Scores",
            labels={"table": "provenance"},
        ),
        plots=report(
            directory(f"{R}/reports/plots"),
            patterns=["{kind}__{dataset}__{protocol}__{group}.png"],
            caption="../report/plots.rst",
            category="Plots",
            subcategory="{dataset}",
            labels={"plot": "{kind}", "protocol": "{protocol}", "rows": "{group}"},
        ),
    log:
        f"{R}/logs/report/report.log",
    benchmark:
        f"{R}/benchmarks/report/report.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        cfg=config["report"],
        expected=PLAN.expected_rows(),
        config=config,
    script:
        "../scripts/report.py"


rule overlay:
    input:
        frames=rules.ingest.output.frames,
        masks=rules.segment.output.masks,
    output:
        gif=f"{R}/reports/overlays/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.gif",
        mp4=f"{R}/reports/overlays/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.mp4",
        html=report(
            f"{R}/reports/overlays/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.html",
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
        f"{R}/logs/overlay/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/overlay/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.tsv"
    wildcard_constraints:
        method=PLAN_PER_SEQUENCE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        overlay=config["report"]["overlay"],
    script:
        "../scripts/overlay.py"


# The overlays of the trained methods: the same rule, in the SLURM job group of `infer` (see rules/evaluate.smk).
use rule overlay as overlay_trained with:
    wildcard_constraints:
        method=PLAN_TRAINED_METHODS,


rule track_overlay:
    input:
        frames=rules.ingest.output.frames,
        tracks=rules.tracks.output.tracks,
    output:
        gif=report(
            f"{R}/reports/tracks/{{dataset}}/{{tracks}}/{{sequence}}.gif",
            caption="../report/track_overlay.rst",
            category="Tracks",
            subcategory="{dataset}",
            labels={"sequence": "{sequence}", "tracks": "{tracks}"},
        ),
    log:
        f"{R}/logs/track_overlay/{{dataset}}/{{tracks}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/track_overlay/{{dataset}}/{{tracks}}/{{sequence}}.tsv"
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
            f"{R}/reports/flow/{{dataset}}/{{flow}}/{{sequence}}.png",
            caption="../report/flow_strip.rst",
            category="Flow",
            subcategory="{dataset}",
            labels={"sequence": "{sequence}", "flow": "{flow}"},
        ),
    log:
        f"{R}/logs/flow_strip/{{dataset}}/{{flow}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/flow_strip/{{dataset}}/{{flow}}/{{sequence}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        n_frames=config["report"]["flow_strip"]["n_frames"],
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
        summary=f"{R}/reports/partial/summary.csv",
        missing=f"{R}/reports/partial/missing.csv",
    log:
        f"{R}/logs/report/report_partial.log",
    benchmark:
        f"{R}/benchmarks/report/report_partial.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        cfg=config["report"],
        expected=PLAN.expected_rows(),
        config=config,
    script:
        "../scripts/report.py"
