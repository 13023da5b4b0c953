# Stage 4: J and F per sequence under every configured protocol and selection (motionseg.metrics). Oracle
# selections are written as separate rows flagged `oracle=True`.
#
# Two instances of one rule: `evaluate` scores the per-sequence methods, `evaluate_trained` (below) the trained
# networks. They differ only in their method wildcard, so that the SLURM profile can put each in the job group of its
# producer (`score` with segment, `infer` with infer): one group holding both would depend on itself through train,
# which reads the masks of the pseudo-label method (slurm/config.yaml, `groups`).


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        scores=paths.scores(R),
        frames=paths.frame_scores(R),
    log:
        paths.log(R, "evaluate", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "evaluate", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_PER_SEQUENCE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["evaluate"]["mem_mb"],
        runtime=config["resources"]["evaluate"]["runtime"],
    params:
        dataset=lambda wildcards: PLAN.dataset_params(wildcards.dataset),
        cfg=PLAN.settings.evaluation.to_dict(),
        labels=lambda wildcards: {
            "dataset": wildcards.dataset,
            "flow": wildcards.flow,
            "tracks": wildcards.tracks,
            "method": wildcards.method,
            "supervision": PLAN.supervision(wildcards.method),
            "post": "none",
        },
    script:
        "../scripts/evaluate.py"


use rule evaluate as evaluate_trained with:
    wildcard_constraints:
        method=PLAN_TRAINED_METHODS,


use rule evaluate as evaluate_combine with:
    wildcard_constraints:
        method=PLAN_COMBINE_METHODS,
