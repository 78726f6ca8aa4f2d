"""The study as data: presets, datasets and tables from the config, turned into jobs and tables.

Torch-free, so that Snakemake can plan the whole DAG while parsing the Snakefile.
"""
