"""Every typed spec of the harness, torch-free: a job's spec is the whole identity of its output.

`base` holds the machinery (`from_dict`, `to_dict`, `spec_hash`); `sampling` the clip recipe,
`train` the pretraining and fine-tuning jobs, `measure` evaluation, features, probe and retrieval,
`preset` the typed preset. Modules are split by job kind so that a job's code fingerprint
(`cstp.planning.code`) covers only the specs it reads.
"""
