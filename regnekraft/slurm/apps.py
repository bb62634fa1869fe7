from django.apps import AppConfig


class SlurmConfig(AppConfig):
    name = "regnekraft.slurm"
    verbose_name = "Slurm bridge"
