from django.contrib.auth import views as auth_views
from django.urls import path

from connectors import views as connector_views
from dashboard import action_views, custom_field_views, device_views, scheduler_views, tag_views, views
from monitoring import views as network_views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", views.account_settings, name="account"),
    path("tokens/", views.api_tokens, name="api-tokens"),
    path("tokens/<int:pk>/revoke/", views.api_token_revoke, name="api-token-revoke"),
    path("enrollment/", device_views.enrollment_tokens, name="enrollment-tokens"),
    path("enrollment/<int:pk>/revoke/", device_views.enrollment_token_revoke, name="enrollment-token-revoke"),
    path("devices/selection/", tag_views.device_selection, name="device-selection"),
    path("devices/<int:pk>/software/", device_views.device_software, name="device-software"),
    path("devices/<int:pk>/revoke-agent/", device_views.device_revoke_agent, name="device-revoke-agent"),
    path("actions/run/", action_views.action_new, name="action-new"),
    path("actions/run/parameters/", action_views.action_parameters, name="action-parameters"),
    path("actions/<int:pk>/cancel/", action_views.action_cancel, name="action-cancel"),
    path("actions/batches/<int:pk>/", action_views.batch_detail, name="batch-detail"),
    path("profiles/<int:pk>/tasks/new/", action_views.profile_task_new, name="profile-task-new"),
    path("profiles/<int:pk>/tasks/<int:task_pk>/delete/", action_views.profile_task_delete,
         name="profile-task-delete"),
    path("profiles/<int:pk>/instantiate/", action_views.profile_instantiate, name="profile-instantiate"),
    path("network/<int:pk>/poll/", network_views.network_poll, name="network-poll"),
    path("cameras/<int:pk>/check/", network_views.camera_check, name="camera-check"),
    path("alerts/<int:pk>/acknowledge/", network_views.alert_acknowledge, name="alert-acknowledge"),
    path("connectors/<int:pk>/sync/", connector_views.connector_sync, name="connector-sync"),
    path("connectors/records/<int:pk>/map/", connector_views.connector_record_map, name="connector-record-map"),
    path("connectors/records/<int:pk>/resolve/", connector_views.connector_conflict_resolve,
         name="connector-conflict-resolve"),
    path("devices/<int:pk>/pulseway-script/", connector_views.pulseway_script_run, name="pulseway-script-run"),
    path("scheduler/", scheduler_views.scheduler, name="scheduler"),
    path("scheduler/<int:pk>/", scheduler_views.scheduler_job, name="scheduler-job"),
    path("scheduler/<int:pk>/enable/", scheduler_views.scheduler_enable, name="scheduler-enable"),
    path("scheduler/<int:pk>/interval/", scheduler_views.scheduler_interval, name="scheduler-interval"),
    path("scheduler/<int:pk>/run/", scheduler_views.scheduler_run_now, name="scheduler-run-now"),
    path("<slug:slug>/", views.resource_list, name="resource-list"),
    path("<slug:slug>/new/", views.resource_create, name="resource-create"),
    path("<slug:slug>/<int:pk>/", views.resource_detail, name="resource-detail"),
    path("<slug:slug>/<int:pk>/edit/", views.resource_edit, name="resource-edit"),
    path("<slug:slug>/<int:pk>/delete/", views.resource_delete, name="resource-delete"),
    path("<slug:slug>/<int:pk>/tags/", tag_views.object_tags, name="resource-tags"),
    path("<slug:slug>/<int:pk>/custom-fields/", custom_field_views.custom_values_edit, name="resource-custom-fields"),
]
