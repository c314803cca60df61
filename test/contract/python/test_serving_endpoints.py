"""Model serving endpoints through the official SDK: create and wait, get, list, update the config and
wait, tags, AI gateway, permissions, delete; and the ML template's serving endpoint script."""

import importlib.util

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    InvalidParameterValue,
    NotFound,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceConflict,
)
from databricks.sdk.service.serving import (
    AiGatewayUsageTrackingConfig,
    EndpointCoreConfigInput,
    EndpointStateConfigUpdate,
    EndpointStateReady,
    EndpointTag,
    Route,
    ServedEntityInput,
    ServingEndpointAccessControlRequest,
    ServingEndpointPermissionLevel,
    TrafficConfig,
)

from conftest import ROOT, LocalWorkspace, start_workspace

ADMIN = "admin@lakeforge.local"


def new_version(w: WorkspaceClient, full_name: str) -> str:
    """Registers a READY model version the way MLflow clients do for a `databricks-uc` registry."""
    created = w.api_client.do(
        "POST", "/api/2.0/mlflow/unity-catalog/model-versions/create", body={"name": full_name, "source": "dbfs:/m"}
    )["model_version"]
    w.api_client.do(
        "POST",
        "/api/2.0/mlflow/unity-catalog/model-versions/finalize",
        body={"name": full_name, "version": created["version"]},
    )
    return created["version"]


@pytest.fixture(scope="module")
def model(w: WorkspaceClient) -> str:
    name = "main.default.churn_serving"
    w.registered_models.create(catalog_name="main", schema_name="default", name="churn_serving")
    new_version(w, name)
    new_version(w, name)
    return name


def config(name: str, *entities: ServedEntityInput, **extra) -> EndpointCoreConfigInput:
    return EndpointCoreConfigInput(name=name, served_entities=list(entities), **extra)


def entity(model: str, version: str, **extra) -> ServedEntityInput:
    return ServedEntityInput(
        entity_name=model, entity_version=version, workload_size="Small", scale_to_zero_enabled=True, **extra
    )


def test_create_and_wait_get_list_update_delete(w: WorkspaceClient, model: str, unique: str):
    name = f"ep-{unique}"
    created = w.serving_endpoints.create_and_wait(
        name=name,
        config=config(name, entity(model, "1")),
        tags=[EndpointTag(key="team", value="ml")],
    )
    assert created.name == name
    assert created.state.ready == EndpointStateReady.READY
    assert created.state.config_update == EndpointStateConfigUpdate.NOT_UPDATING
    assert created.creator == ADMIN
    assert created.permission_level.value == "CAN_MANAGE"
    served = created.config.served_entities
    assert [(e.name, e.entity_name, e.entity_version) for e in served] == [("churn_serving-1", model, "1")]
    assert served[0].workload_size == "Small" and served[0].scale_to_zero_enabled is True
    assert served[0].state.deployment.value == "DEPLOYMENT_READY"
    routes = created.config.traffic_config.routes
    assert [(r.served_entity_name, r.traffic_percentage) for r in routes] == [("churn_serving-1", 100)]
    assert created.config.config_version == 1
    assert created.route_optimized is False

    got = w.serving_endpoints.get(name)
    assert got.id == created.id and len(got.id) == 32
    assert [t.as_dict() for t in got.tags] == [{"key": "team", "value": "ml"}]
    listed = {e.name: e for e in w.serving_endpoints.list()}
    assert listed[name].config.served_entities[0].entity_version == "1"

    updated = w.serving_endpoints.update_config_and_wait(
        name=name,
        served_entities=[entity(model, "1", name="a"), entity(model, "2", name="b")],
        traffic_config=TrafficConfig(
            routes=[
                Route(served_model_name="a", traffic_percentage=90),
                Route(served_model_name="b", traffic_percentage=10),
            ]
        ),
    )
    assert updated.state.config_update == EndpointStateConfigUpdate.NOT_UPDATING
    assert updated.config.config_version == 2
    assert [(e.name, e.entity_version) for e in updated.config.served_entities] == [("a", "1"), ("b", "2")]
    routes = updated.config.traffic_config.routes
    assert {r.served_model_name: r.traffic_percentage for r in routes} == {"a": 90, "b": 10}

    tags = w.serving_endpoints.patch(name, add_tags=[EndpointTag(key="tier", value="gold")], delete_tags=["team"])
    assert [t.as_dict() for t in tags.tags] == [{"key": "tier", "value": "gold"}]
    gateway = w.serving_endpoints.put_ai_gateway(name, usage_tracking_config=AiGatewayUsageTrackingConfig(enabled=True))
    assert gateway.usage_tracking_config.enabled is True
    assert w.serving_endpoints.get(name).ai_gateway.usage_tracking_config.enabled is True

    w.serving_endpoints.delete(name)
    with pytest.raises(NotFound, match=f"Endpoint with name '{name}' does not exist"):
        w.serving_endpoints.get(name)
    assert name not in {e.name for e in w.serving_endpoints.list()}


def test_waiters_poll_an_update_in_progress(unique: str):
    # A workspace of its own keeps each configuration IN_PROGRESS for 300 ms.
    ws = start_workspace("--ephemeral", "--serving-update-delay", "300")
    try:
        w = ws.client()
        w.registered_models.create(catalog_name="main", schema_name="default", name="slow")
        new_version(w, "main.default.slow")
        new_version(w, "main.default.slow")
        name = f"slow-{unique}"
        waiter = w.serving_endpoints.create(
            name=name, config=config(name, entity("main.default.slow", "1"))
        )
        assert waiter.response.state.config_update == EndpointStateConfigUpdate.IN_PROGRESS
        assert waiter.response.state.ready == EndpointStateReady.NOT_READY
        assert waiter.response.pending_config.served_entities[0].state.deployment.value == "DEPLOYMENT_CREATING"
        assert waiter.response.config is None
        assert waiter.result().state.ready == EndpointStateReady.READY

        w.serving_endpoints.update_config(name=name, served_entities=[entity("main.default.slow", "2")])
        with pytest.raises(ResourceConflict, match="currently updating"):
            w.serving_endpoints.update_config(name=name, served_entities=[entity("main.default.slow", "1")])
        during = w.serving_endpoints.get(name)
        assert during.state.ready == EndpointStateReady.READY  # the old config still serves
        assert during.config.served_entities[0].entity_version == "1"
        assert during.pending_config.served_entities[0].entity_version == "2"
        done = w.serving_endpoints.wait_get_serving_endpoint_not_updating(name)
        assert done.config.served_entities[0].entity_version == "2"
        assert done.pending_config is None
    finally:
        ws.proc.terminate()
        ws.proc.wait(timeout=10)


def test_refusals(w: WorkspaceClient, model: str, unique: str):
    name = f"bad-{unique}"
    with pytest.raises(NotFound, match="Model version 7 of model 'main.default.churn_serving' does not exist"):
        w.serving_endpoints.create(name=name, config=config(name, entity(model, "7")))
    with pytest.raises(NotFound, match="main.default.nope"):
        w.serving_endpoints.create(
            name=name, config=config(name, entity("main.default.nope", "1"))
        )
    with pytest.raises(InvalidParameterValue, match="Invalid endpoint name"):
        w.serving_endpoints.create(name="has space", config=config(name, entity(model, "1")))
    with pytest.raises(InvalidParameterValue, match="traffic percentages must add up to 100"):
        w.serving_endpoints.create(
            name=name,
            config=EndpointCoreConfigInput(
                name=name,
                served_entities=[entity(model, "1", name="a")],
                traffic_config=TrafficConfig(routes=[Route(served_model_name="a", traffic_percentage=50)]),
            ),
        )
    assert name not in {e.name for e in w.serving_endpoints.list()}

    w.serving_endpoints.create_and_wait(name=name, config=config(name, entity(model, "1")))
    with pytest.raises(ResourceAlreadyExists, match="already exists"):
        w.serving_endpoints.create(name=name, config=config(name, entity(model, "2")))
    w.serving_endpoints.delete(name)


def test_permissions(local: LocalWorkspace, w: WorkspaceClient, model: str, unique: str):
    name = f"acl-{unique}"
    endpoint = w.serving_endpoints.create_and_wait(
        name=name, config=config(name, entity(model, "1"))
    )
    user = f"reader-{unique}@example.com"
    w.users.create(user_name=user)
    offered = w.serving_endpoints.get_permission_levels(endpoint.id).permission_levels
    levels = {p.permission_level.value for p in offered}
    assert levels == {"CAN_VIEW", "CAN_QUERY", "CAN_MANAGE"}
    perms = w.serving_endpoints.update_permissions(
        endpoint.id,
        access_control_list=[
            ServingEndpointAccessControlRequest(
                user_name=user, permission_level=ServingEndpointPermissionLevel.CAN_QUERY
            )
        ],
    )
    assert perms.object_type == "serving-endpoint"
    assert perms.object_id == f"/serving-endpoints/{endpoint.id}"

    reader = local.client(local.token_for(user_name=user))
    seen = reader.serving_endpoints.get(name)
    assert seen.permission_level.value == "CAN_QUERY"
    with pytest.raises(PermissionDenied, match="does not have permission 'Manage'"):
        reader.serving_endpoints.delete(name)
    w.serving_endpoints.delete(name)
    with pytest.raises(NotFound):
        w.serving_endpoints.get_permissions(endpoint.id)


def test_template_serving_script(local: LocalWorkspace, w: WorkspaceClient, unique: str, monkeypatch, capsys):
    """The ML template's job task creates the endpoint for @champion, then moves it to the next champion."""
    spec = importlib.util.spec_from_file_location(
        "serving_endpoint", ROOT / "templates" / "ml-project" / "scripts" / "serving_endpoint.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setenv("DATABRICKS_HOST", local.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", local.token)

    full = f"main.default.tpl_{unique}"
    w.registered_models.create(catalog_name="main", schema_name="default", name=f"tpl_{unique}")
    group = f"scorers-{unique}"
    w.groups.create(display_name=group)
    args = ["--model", full, "--endpoint-name", f"tpl-{unique}", "--query-group", group]

    assert script.main(args) == 0
    assert "has no @champion version yet" in capsys.readouterr().out

    w.registered_models.set_alias(full, "champion", int(new_version(w, full)))
    assert script.main(args) == 0
    endpoint = w.serving_endpoints.get(f"tpl-{unique}")
    assert [(e.entity_name, e.entity_version) for e in endpoint.config.served_entities] == [(full, "1")]
    acl = w.serving_endpoints.get_permissions(endpoint.id).access_control_list
    assert any(a.group_name == group and a.all_permissions[0].permission_level.value == "CAN_QUERY" for a in acl)

    assert script.main(args) == 0
    assert "already serves" in capsys.readouterr().out

    w.registered_models.set_alias(full, "champion", int(new_version(w, full)))
    assert script.main(args) == 0
    assert "updating endpoint" in capsys.readouterr().out
    w.serving_endpoints.wait_get_serving_endpoint_not_updating(f"tpl-{unique}")
    moved = w.serving_endpoints.get(f"tpl-{unique}")
    assert [(e.entity_name, e.entity_version) for e in moved.config.served_entities] == [(full, "2")]
    w.serving_endpoints.delete(f"tpl-{unique}")
