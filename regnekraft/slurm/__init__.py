"""Slurm bridge: push allocations to Slurm, pull usage back, reconcile drift."""
