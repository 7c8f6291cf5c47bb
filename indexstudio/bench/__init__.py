"""Benchmarks run through `indexstudio bench ...` (each module has a `main(argv)`)."""
