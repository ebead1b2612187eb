"""Comparison servers of loadtests/bench_holds.py: the thinnest Starlette hold
over one Redis Lua script (the ceiling of the stack) and the Postgres-locking
hold of Postgres-only ticketing systems. Benchmarks only, never imported by src.
"""
