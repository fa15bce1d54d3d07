"""The agent for new endpoints: the install scripts, the current release's description and its wheel.

Public like any installer: the enrollment token the technician pastes is the secret, not the agent. The
server's address in the scripts is ``FLEETWATCH_BASE_URL`` (never the request's Host header, which a caller
chooses) and must be a plain URL, since it is written into a shell script.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET

from portal.operations.agent_release import current_release, server_url

NOT_BUILT = "No agent release is built on this server yet: run 'manage.py build_agent'.\n"


def _script(template: str) -> HttpResponse:
    url = server_url()
    if url is None:
        return HttpResponse("FLEETWATCH_BASE_URL is not a plain http(s) URL; the install scripts are off.\n",
                            status=503, content_type="text/plain")
    if current_release() is None:
        return HttpResponse(NOT_BUILT, status=503, content_type="text/plain")
    return HttpResponse(render_to_string(template, {"server": url}), content_type="text/plain; charset=utf-8")


@require_GET
def install_sh(request: HttpRequest) -> HttpResponse:
    return _script("agent/install.sh")


@require_GET
def install_ps1(request: HttpRequest) -> HttpResponse:
    return _script("agent/install.ps1")


@require_GET
def release(request: HttpRequest) -> HttpResponse:
    current = current_release()
    if current is None:
        return HttpResponse(NOT_BUILT, status=503, content_type="text/plain")
    return JsonResponse(current.as_dict())


@require_GET
def download(request: HttpRequest, name: str) -> FileResponse:
    current = current_release()
    if current is None or name != current.wheel.name:
        raise Http404("No such agent file.")
    return FileResponse(current.wheel.open("rb"), as_attachment=True, filename=current.wheel.name,
                        content_type="application/octet-stream")
