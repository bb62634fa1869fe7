from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "regnekraft.audit"
    verbose_name = "Audit log"
