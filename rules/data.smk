# Stage 0: data. Synthetic datasets are generated here; every sequence is validated, resized to the working
# resolution and cached as one ingested-frames file.


rule synth:
    output:
        frames=directory(paths.synth(R, "frames")),
        masks=directory(paths.synth(R, "masks")),
        flow_fwd=directory(paths.synth(R, "flow_fwd")),
        flow_bwd=directory(paths.synth(R, "flow_bwd")),
    log:
        paths.log(R, "synth", paths.SEQ),
    benchmark:
        paths.benchmark(R, "synth", paths.SEQ)
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
        frames=paths.frames(R),
    log:
        paths.log(R, "ingest", paths.SEQ),
    benchmark:
        paths.benchmark(R, "ingest", paths.SEQ)
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["ingest"]["mem_mb"],
        runtime=config["resources"]["ingest"]["runtime"],
    params:
        dataset=lambda wildcards: PLAN.ingest_dataset(wildcards.dataset),
        ingest=PLAN.settings.ingest.to_dict(),
        fail=lambda wildcards: wildcards.sequence in config["debug_fail_sequences"],
    script:
        "../scripts/ingest.py"
