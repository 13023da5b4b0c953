"""Synthetic demo data: textured objects moving over a moving textured background, with exact masks and flow."""

from motionseg.synth.generator import (
    SynthSequence,
    generate_sequence,
    render_sequence,
    run_synth,
    sequence_index,
    synth_sequence_names,
)

__all__ = [
    "SynthSequence",
    "generate_sequence",
    "render_sequence",
    "run_synth",
    "sequence_index",
    "synth_sequence_names",
]
