from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Users and API tokens"

    def ready(self) -> None:
        from portal.accounts import rights, signin_audit

        rights.connect()
        signin_audit.connect()
