# Stage 0: data. Synthetic datasets are generated here; every sequence is validated, resized to the working
# resolution and cached as one ingested-frames file.


rule synth:
    output:
        frames=directory(f"{R}/data/{{dataset}}/JPEGImages/{{sequence}}"),
        masks=directory(f"{R}/data/{{dataset}}/Annotations/{{sequence}}"),
        flow_fwd=directory(f"{R}/data/{{dataset}}/Flows_gap1/{{sequence}}"),
        flow_bwd=directory(f"{R}/data/{{dataset}}/Flows_gap-1/{{sequence}}"),
    params:
        synthetic=synth_params,
        root=lambda wildcards: PLAN.dataset(wildcards.dataset)["root"],
    log:
        f"{R}/logs/synth/{{dataset}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/synth/{{dataset}}/{{sequence}}.tsv"
    threads: 1
    resources:
        mem_mb=config["resources"]["synth"]["mem_mb"],
        runtime=config["resources"]["synth"]["runtime"],
    conda:
        "../envs/core.yaml"
    script:
        "../scripts/synth.py"


rule ingest:
    input:
        sources=ingest_sources,
    output:
        frames=f"{R}/{{dataset}}/frames/{{sequence}}.npz",
    params:
        dataset=lambda wildcards: PLAN.dataset_params(wildcards.dataset),
        ingest=config["ingest"],
        fail=lambda wildcards: wildcards.sequence in config["debug_fail_sequences"],
    log:
        f"{R}/logs/ingest/{{dataset}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/ingest/{{dataset}}/{{sequence}}.tsv"
    threads: 1
    resources:
        mem_mb=config["resources"]["ingest"]["mem_mb"],
        runtime=config["resources"]["ingest"]["runtime"],
    conda:
        "../envs/core.yaml"
    script:
        "../scripts/ingest.py"
