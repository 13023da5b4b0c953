"""Optional post-processing stages that run after any method on its mask directory (``motionseg.post.crf``: dense
CRF refinement of the foreground on the ingested frames)."""
