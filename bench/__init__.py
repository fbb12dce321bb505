"""The benchmark: mock provider, Elasticsearch stand-in and sidecar as pinned child processes, load from `wrk`.

Run with `make bench` (`python -m bench`); `python -m bench --help` lists the knobs. Results are printed and
written into the generated block of BENCHMARKS.md.
"""
