from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "bankcrm.events"
    label = "events"
    verbose_name = _("Events")

    def ready(self) -> None:
        # Web processes, workers and commands must all know every subscriber, so each app's
        # ``subscribers`` module is imported wherever Django starts.
        autodiscover_modules("subscribers")
