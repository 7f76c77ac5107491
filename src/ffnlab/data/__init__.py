"""The data layer: corpora on disk (corpora: WikiText-2, TinyShakespeare, PG books, checked against their sums),
their fetch-and-verify from the hub (fetch, hub), PG books' book-level splits (pgbooks), the tokenized Lightning
data module (datamodule), word-level tokens (words) and BLiMP's minimal pairs with their scoring (blimp,
blimp_sums). Knows nothing of runs or reports; imports ffnlab.errors and ffnlab.io only.
"""
