# Stage 2: point trajectories (motionseg.tracks): `flowchain-<flow>` chains that flow, CoTracker backends read frames.


rule tracks:
    input:
        unpack(tracks_inputs),
    output:
        tracks=f"{R}/{{dataset}}/tracks/{{tracks}}/{{sequence}}.npz",
    log:
        f"{R}/logs/tracks/{{dataset}}/{{tracks}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/tracks/{{dataset}}/{{tracks}}/{{sequence}}.tsv"
    conda:
        "../envs/tracks.yaml"
    threads: config["resources"]["tracks"]["threads"]
    resources:
        mem_mb=config["resources"]["tracks"]["mem_mb"],
        runtime=config["resources"]["tracks"]["runtime"],
        gpu=tracks_gpu,
    params:
        cfg=lambda wildcards: PLAN.tracks_config(wildcards.tracks),
        backend=lambda wildcards: PLAN.tracks_backend(wildcards.tracks)[0],
    script:
        "../scripts/tracks.py"
