# Stage 2: point trajectories (motionseg.tracks): `flowchain-<flow>` chains that flow, CoTracker backends read frames.


rule tracks:
    input:
        unpack(tracks_inputs),
    output:
        tracks=paths.tracks(R),
    log:
        paths.log(R, "tracks", paths.TRACKS_SEQ),
    benchmark:
        paths.benchmark(R, "tracks", paths.TRACKS_SEQ)
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
