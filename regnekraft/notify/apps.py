from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "regnekraft.notify"
    label = "notify"
    verbose_name = "Notifications"
