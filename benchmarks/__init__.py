"""The aiofile benchmark suite: ``python -m benchmarks --help``.

Modules: ``cli`` (options, entry point), ``workloads`` (W1-W6 and their cells),
``participants`` (who runs, and why not), ``data`` (data files), ``runner``
(one subprocess per participant, interleaved per repeat), ``child`` (the
subprocess), ``adapters`` (how each participant issues I/O), ``measure``
(timing, calibration, loop lag), ``report`` (medians, ratios, Markdown,
JSON), ``targets`` (the issues' ratios), ``chart`` (PNGs), ``machine``.
See ``benchmarks/README.md``.
"""
