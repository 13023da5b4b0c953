# Stage 0: data. Synthetic datasets are generated here; every sequence is validated, resized to the working
# resolution and cached as one ingested-frames file.


rule synth:
    output:
        frames=directory(f"{R}/data/{{dataset}}/JPEGImages/{{sequence}}"),
        masks=directory(f"{R}/data/{{dataset}}/Annotations/{{sequence}}"),
        flow_fwd=directory(f"{R}/data/{{dataset}}/Flows_gap1/{{sequence}}"),
        flow_bwd=directory(f"{R}/data/{{dataset}}/Flows_gap-1/{{sequence}}"),
    log:
        f"{R}/logs/synth/{{dataset}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/synth/{{dataset}}/{{sequence}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["synth"]["mem_mb"],
        runtime=config["resources"]["synth"]["runtime"],
    params:
        synthetic=lambda wildcards: PLAN.synth_config(wildcards.dataset),
        root=lambda wildcards: PLAN.dataset(wildcards.dataset)["root"],
    script:
        "../scripts/synth.py"


rule ingest:
    input:
        sources=ingest_sources,
    output:
        frames=f"{R}/{{dataset}}/frames/{{sequence}}.npz",
    log:
        f"{R}/logs/ingest/{{dataset}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/ingest/{{dataset}}/{{sequence}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["ingest"]["mem_mb"],
        runtime=config["resources"]["ingest"]["runtime"],
    params:
        dataset=lambda wildcards: PLAN.ingest_dataset(wildcards.dataset),
        ingest=config["ingest"],
        fail=lambda wildcards: wildcards.sequence in config["debug_fail_sequences"],
    script:
        "../scripts/ingest.py"
