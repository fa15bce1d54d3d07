from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Users and API tokens"

    def ready(self) -> None:
        from allauth.mfa.signals import authenticator_removed

        from portal.accounts import rights, signin_audit
        from portal.accounts.middleware import forget_second_factor_check

        rights.connect()
        signin_audit.connect()
        authenticator_removed.connect(forget_second_factor_check, dispatch_uid="second-factor-removed")
