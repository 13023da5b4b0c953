"""``motionseg segment``: the user's own videos or frame folders -> a generated workflow config -> the same Snakemake
workflow -> where each input's masks and overlay are.

- :func:`collect_inputs`: video files, frame folders or folders of either -> dataset entries of the config;
- :func:`build_config`: ``config/config.yaml`` + ``config/segment.yaml`` + command-line choices + those datasets;
- :mod:`motionseg.segment.cli`: the command (writes the config, runs ``snakemake``, prints the outputs).
"""

from motionseg.segment.inputs import Input, build_config, collect_inputs, workflow_dir

__all__ = ["Input", "build_config", "collect_inputs", "workflow_dir"]
