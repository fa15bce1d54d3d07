"""Users and teams, for admins: the users they manage (every user, for an admin who sees every company; the
users of their own companies otherwise), creating them with a generated password shown once, their role and
companies, deactivating them, resetting a password, their second factors, sessions and API tokens.

An admin grants no more than they hold (services.update_user); a user they do not manage answers 404."""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from portal.access import Actor, Role, is_msp_admin
from portal.accounts import services
from portal.accounts.models import User
from portal.accounts.selectors import second_factor_roles, tokens_for, users_for
from portal.pages import redirect_to
from portal.tenancy.selectors import companies_for


class UserForm(forms.Form):
    """A user's role, companies and details; what an admin may grant is limited to what they hold."""

    email = forms.EmailField(required=False)
    first_name = forms.CharField(required=False, max_length=150)
    last_name = forms.CharField(required=False, max_length=150)
    role = forms.ChoiceField(choices=Role.choices)
    all_companies = forms.BooleanField(required=False, label="Sees every company",
                                       help_text="Present and future (admins who see every company grant it).")
    companies = forms.ModelMultipleChoiceField(queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
                                               help_text="The companies this user sees.")
    can_run_inline_scripts = forms.BooleanField(required=False, label="May run inline scripts",
                                                help_text="Ad-hoc scripts and free arguments (admins always may).")
    can_open_remote_sessions = forms.BooleanField(
        required=False, label="May open remote sessions",
        help_text="A live shell and file access on the endpoints of their companies (admins always may).")

    def __init__(self, *args: Any, actor: Actor, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["companies"].queryset = companies_for(actor=actor)
        if not actor.sees_all_companies:
            del self.fields["all_companies"]


class NewUserForm(UserForm):
    username = forms.CharField(max_length=150)
    field_order = ["username"]


def _require_admin(actor: Actor) -> None:
    if not actor.has_role(Role.ADMIN):
        raise Http404("Users are managed by admins.")


def _explain(request: HttpRequest, error: Exception) -> None:
    if isinstance(error, ValidationError):
        messages.error(request, " ".join(error.messages))
    elif isinstance(error, ObjectDoesNotExist):
        raise Http404("No such user.") from error
    else:
        messages.error(request, str(error))


@login_required
def users(request: HttpRequest) -> HttpResponse:
    _require_admin(request.actor)
    rows = users_for(actor=request.actor).prefetch_related("companies").order_by("username")
    query = request.GET.get("q", "").strip()[:100]
    for word in query.split()[:5]:
        rows = rows.filter(Q(username__icontains=word) | Q(email__icontains=word) | Q(first_name__icontains=word)
                           | Q(last_name__icontains=word))
    role = request.GET.get("role", "")
    if role in Role.values:
        rows = rows.filter(role=role)
    state = request.GET.get("state", "")
    if state in ("active", "inactive"):
        rows = rows.filter(is_active=state == "active")
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    factors = set(Authenticator.objects.filter(user__in=list(page), type__in=(
        Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)).values_list("user_id", flat=True))
    return render(request, "web/users/list.html", {
        "page": page, "rows": [(user, user.pk in factors) for user in page], "query": request.GET.urlencode(),
        "chosen": {"q": query, "role": role, "state": state}, "roles": Role.choices,
        "policy_roles": second_factor_roles(), "may_set_policy": is_msp_admin(request.actor)})


@login_required
@require_http_methods(["GET", "POST"])
def user_new(request: HttpRequest) -> HttpResponse:
    actor = request.actor
    _require_admin(actor)
    form = NewUserForm(request.POST or None, actor=actor, initial={"role": Role.VIEWER})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user, password = services.create_user(
                actor=actor, username=data["username"], role=Role(data["role"]), email=data["email"],
                all_companies=bool(data.get("all_companies")), companies=data["companies"],
                can_run_inline_scripts=data["can_run_inline_scripts"],
                can_open_remote_sessions=data["can_open_remote_sessions"], first_name=data["first_name"],
                last_name=data["last_name"])
            return render(request, "web/users/password.html", {"managed": user, "password": password,
                                                                "created": True})
        except ValidationError as error:
            for field, errors in getattr(error, "message_dict", {"__all__": error.messages}).items():
                form.add_error(field if field in form.fields else None, errors)
    return render(request, "web/users/new.html", {"form": form})


def _detail(request: HttpRequest, user: User, form: UserForm | None = None) -> HttpResponse:
    actor = request.actor
    form = form or UserForm(actor=actor, initial={
        "email": user.email, "first_name": user.first_name, "last_name": user.last_name, "role": user.role,
        "all_companies": user.all_companies, "companies": list(user.companies.all()),
        "can_run_inline_scripts": user.can_run_inline_scripts,
        "can_open_remote_sessions": user.can_open_remote_sessions})
    return render(request, "web/users/detail.html", {
        "managed": user, "form": form, "is_self": user.pk == actor.user_id,
        "factors": Authenticator.objects.filter(user=user).order_by("type"),
        "sessions": UserSession.objects.filter(user=user).order_by("-last_seen_at")[:50],
        "tokens": tokens_for(actor=actor).filter(user=user)[:100],
        "companies_outside": user.companies.exclude(pk__in=companies_for(actor=actor)).count()})


@login_required
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require_admin(request.actor)
    return _detail(request, get_object_or_404(users_for(actor=request.actor), pk=pk))


@login_required
@require_POST
def user_action(request: HttpRequest, pk: int) -> HttpResponse:
    """Change, (de)activate, reset the password, remove second factors, end a session or revoke a token."""
    actor = request.actor
    _require_admin(actor)
    user = get_object_or_404(users_for(actor=actor), pk=pk)
    op = request.POST.get("op", "")
    try:
        if op == "update":
            form = UserForm(request.POST, actor=actor)
            if not form.is_valid():
                return _detail(request, user, form)
            data = form.cleaned_data
            services.update_user(actor=actor, user=user, companies=data["companies"],
                                 all_companies=data.get("all_companies"), email=data["email"],
                                 first_name=data["first_name"], last_name=data["last_name"], role=data["role"],
                                 can_run_inline_scripts=data["can_run_inline_scripts"],
                                 can_open_remote_sessions=data["can_open_remote_sessions"])
            messages.success(request, f"{user.username} saved.")
        elif op in ("deactivate", "activate"):
            services.update_user(actor=actor, user=user, is_active=op == "activate")
            messages.success(request, f"{user.username} {'activated' if op == 'activate' else 'deactivated'}.")
        elif op == "reset_password":
            password = services.reset_password(actor=actor, user=user)
            return render(request, "web/users/password.html", {"managed": user, "password": password})
        elif op == "remove_factors":
            removed = services.remove_second_factors(actor=actor, user=user)
            messages.success(request, f"{removed} second factor(s) removed.")
        elif op == "end_session":
            session = get_object_or_404(UserSession, pk=request.POST.get("session") or 0, user=user)
            services.end_session(actor=actor, session=session)
            messages.success(request, "Session signed out.")
        elif op == "revoke_token":
            token = get_object_or_404(tokens_for(actor=actor), pk=request.POST.get("token") or 0, user=user)
            services.revoke_api_token(actor=actor, token=token)
            messages.success(request, f"Token {token.name} revoked.")
        else:
            raise Http404("No such operation.")
    except (ValidationError, ObjectDoesNotExist, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("user-detail", args=[pk]))


@login_required
@require_POST
def sign_in_policy(request: HttpRequest) -> HttpResponse:
    try:
        services.set_second_factor_roles(actor=request.actor, roles=request.POST.getlist("roles"))
        messages.success(request, "Sign-in rules saved.")
    except (ValidationError, PermissionDenied) as error:
        _explain(request, error)
    return redirect_to(request, reverse("users"))


def closed(request: HttpRequest) -> HttpResponse:
    """Signing up, changing one's email and resetting a password by email: administrators do these here."""
    return render(request, "web/users/closed.html", status=404)
