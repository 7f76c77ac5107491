"""ffnlab-bench: throughput, memory and overhead of the FFN variants against peer implementations (models: what
is timed; measure: how; overhead: the training loop's own cost; study: a sweep's projected duration; tables and
write: the results/benchmarks files; cli: the command). On top of the model and runs layers.
"""
