# Benchmark tools; included from the main Makefile (which has the `bench` target: .venv/bin/python -m bench).
#
#   make bench-tools   install wrk, the load generator the benchmark drives (Debian/Ubuntu, as root)

.PHONY: bench-tools

bench-tools:
	apt-get update
	apt-get install -y wrk
