"""The studies' rules and prose, on top of the generic report: the scaling ladder's cells, multipliers and fits
(scaling) and its verdict in words (scaling_text), its rule for a finding (findings), the pre-registered seed-block
contrasts (decisive), the newer variants' claims (claims), the model families' shipped-vs-matched table (families),
a rerun's replication check (replication), the BLiMP view (blimp), and the arms of a routed-FFN, normalizer or
head study against their reference arm, with compute multipliers, interactions and the normalizers' published
claims (arms). Pure pandas; imports ffnlab.report.
"""
