"""Clusters, cluster policies and instance pools through the official SDK, lifecycle and permissions included."""

import json
import time

import pytest
from conftest import start_workspace
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import DatabricksError, InvalidParameterValue, NotFound, PermissionDenied, ResourceAlreadyExists
from databricks.sdk.service import compute

SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def make_user(w: WorkspaceClient, name: str) -> str:
    user_name = f"{name}@example.com"
    w.api_client.do("POST", "/api/2.0/preview/scim/v2/Users", body={"schemas": [SCIM_USER], "userName": user_name})
    return user_name


def small_cluster(w: WorkspaceClient, name: str, **extra) -> compute.ClusterDetails:
    return w.clusters.create_and_wait(
        cluster_name=name, spark_version="15.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=1, autotermination_minutes=60, **extra
    )


def test_catalog_and_selectors(w: WorkspaceClient):
    keys = [v.key for v in w.clusters.spark_versions().versions]
    assert {"15.4.x-scala2.12", "15.4.x-cpu-ml-scala2.12", "16.4.x-scala2.12", "17.3.x-scala2.13"} <= set(keys)
    assert w.clusters.select_spark_version(long_term_support=True) == "16.4.x-scala2.12"
    assert w.clusters.select_spark_version(long_term_support=True, ml=True) == "16.4.x-cpu-ml-scala2.12"
    assert w.clusters.select_spark_version(scala="2.13") == "17.3.x-scala2.13"

    node_types = w.clusters.list_node_types().node_types
    i3 = next(n for n in node_types if n.node_type_id == "i3.xlarge")
    assert i3.num_cores == 4 and i3.memory_mb == 31232 and i3.category == "Storage Optimized"
    assert any(n.node_type_id == "Standard_DS3_v2" for n in node_types)
    assert w.clusters.select_node_type() == "m5.large"
    assert w.clusters.select_node_type(local_disk=True) == "m5d.large"
    assert w.clusters.select_node_type(min_gpus=1) == "g4dn.xlarge"
    assert w.clusters.list_zones().default_zone in w.clusters.list_zones().zones


def test_create_and_wait_then_get(w: WorkspaceClient, unique: str):
    created = w.clusters.create_and_wait(
        cluster_name=f"c-{unique}",
        spark_version=w.clusters.select_spark_version(long_term_support=True),
        node_type_id=w.clusters.select_node_type(local_disk=True),
        num_workers=2,
        spark_conf={"spark.speculation": "true"},
        custom_tags={"team": "ml"},
        data_security_mode=compute.DataSecurityMode.SINGLE_USER,
    )
    assert created.state == compute.State.RUNNING
    c = w.clusters.get(created.cluster_id)
    assert c.cluster_name == f"c-{unique}"
    assert c.creator_user_name == "admin@lakeforge.local"
    assert c.spark_version == "16.4.x-scala2.12"
    assert c.node_type_id == "m5d.large" and c.driver_node_type_id == "m5d.large"
    assert c.num_workers == 2 and len(c.executors) == 2 and c.driver.private_ip
    assert c.spark_conf == {"spark.speculation": "true"}
    assert c.custom_tags == {"team": "ml"}
    assert c.default_tags["ClusterId"] == c.cluster_id and c.default_tags["Creator"] == "admin@lakeforge.local"
    assert c.single_user_name == "admin@lakeforge.local"
    assert c.cluster_source == compute.ClusterSource.API
    assert c.spark_context_id and c.start_time and c.state_message == ""
    assert c.spec.num_workers == 2 and c.spec.single_user_name is None  # the request as sent
    parts = c.cluster_id.split("-")
    assert len(parts) == 3 and len(parts[0]) == 4 and len(parts[1]) == 6 and len(parts[2]) == 8


def test_lifecycle_edit_resize_terminate_start_permanent_delete(w: WorkspaceClient, unique: str):
    c = small_cluster(w, f"life-{unique}")
    first_context = c.spark_context_id

    edited = w.clusters.edit_and_wait(
        cluster_id=c.cluster_id, cluster_name=f"life-{unique}-2", spark_version="16.4.x-scala2.12", node_type_id="i3.xlarge", num_workers=3
    )
    assert edited.state == compute.State.RUNNING
    assert edited.cluster_name == f"life-{unique}-2" and edited.num_workers == 3
    assert edited.autotermination_minutes is None  # edit replaces the whole specification
    assert edited.spark_context_id != first_context  # a running cluster restarts to apply an edit

    resized = w.clusters.resize_and_wait(cluster_id=c.cluster_id, autoscale=compute.AutoScale(min_workers=1, max_workers=5))
    assert resized.autoscale.max_workers == 5 and resized.state == compute.State.RUNNING

    terminated = w.clusters.delete_and_wait(c.cluster_id)
    assert terminated.state == compute.State.TERMINATED
    assert terminated.termination_reason.code == compute.TerminationReasonCode.USER_REQUEST
    assert terminated.terminated_time >= terminated.start_time
    w.clusters.delete(c.cluster_id)  # terminating a terminated cluster changes nothing

    with pytest.raises(DatabricksError) as e:
        w.clusters.resize(cluster_id=c.cluster_id, num_workers=1)
    assert e.value.error_code == "INVALID_STATE"
    with pytest.raises(DatabricksError, match="is in unexpected state Terminated"):
        w.clusters.restart(c.cluster_id)

    # A terminated cluster can be edited and stays terminated.
    w.clusters.edit(cluster_id=c.cluster_id, cluster_name=f"life-{unique}-3", spark_version="16.4.x-scala2.12", num_workers=1)
    assert w.clusters.get(c.cluster_id).state == compute.State.TERMINATED

    started = w.clusters.start_and_wait(c.cluster_id)
    assert started.state == compute.State.RUNNING and started.cluster_name == f"life-{unique}-3"
    assert "termination_reason" not in started.as_dict()
    with pytest.raises(DatabricksError, match="is in unexpected state Running"):
        w.clusters.start(c.cluster_id)
    restarted = w.clusters.restart_and_wait(c.cluster_id)
    assert restarted.state == compute.State.RUNNING

    types = [e.type for e in w.clusters.events(c.cluster_id, order=compute.GetEventsOrder.ASC)]
    assert types[0] == compute.EventType.CREATING
    for t in ("EDITED", "RESIZING", "UPSIZE_COMPLETED", "TERMINATING", "STARTING", "RESTARTING", "RUNNING"):
        assert compute.EventType(t) in types
    few = list(w.clusters.events(c.cluster_id, page_size=2))
    assert len(few) == len(types)  # the SDK follows next_page

    w.clusters.permanent_delete(c.cluster_id)
    with pytest.raises(NotFound, match=f"Cluster {c.cluster_id} does not exist"):
        w.clusters.get(c.cluster_id)
    with pytest.raises(InvalidParameterValue):
        w.clusters.start(c.cluster_id)
    assert all(x.cluster_id != c.cluster_id for x in w.clusters.list())


def test_ensure_cluster_is_running_starts_a_terminated_cluster(w: WorkspaceClient, unique: str):
    c = small_cluster(w, f"ensure-{unique}")
    w.clusters.delete_and_wait(c.cluster_id)
    w.clusters.ensure_cluster_is_running(c.cluster_id)
    assert w.clusters.get(c.cluster_id).state == compute.State.RUNNING
    w.clusters.ensure_cluster_is_running(c.cluster_id)  # already running: nothing to do


def test_list_filters_pins_and_pages(w: WorkspaceClient, unique: str):
    ids = [small_cluster(w, f"list-{unique}-{i}").cluster_id for i in range(3)]
    w.clusters.delete_and_wait(ids[0])
    w.clusters.pin(ids[1])

    running = {c.cluster_id for c in w.clusters.list(filter_by=compute.ListClustersFilterBy(cluster_states=[compute.State.RUNNING]))}
    assert ids[1] in running and ids[2] in running and ids[0] not in running
    terminated = {c.cluster_id for c in w.clusters.list(filter_by=compute.ListClustersFilterBy(cluster_states=[compute.State.TERMINATED]))}
    assert ids[0] in terminated
    pinned = {c.cluster_id for c in w.clusters.list(filter_by=compute.ListClustersFilterBy(is_pinned=True))}
    assert ids[1] in pinned and ids[2] not in pinned
    w.clusters.unpin(ids[1])
    assert ids[1] not in {c.cluster_id for c in w.clusters.list(filter_by=compute.ListClustersFilterBy(is_pinned=True))}

    page = w.api_client.do("GET", "/api/2.1/clusters/list", query={"page_size": 1})
    assert len(page["clusters"]) == 1 and page["next_page_token"]
    paged = [c.cluster_id for c in w.clusters.list(page_size=1)]  # the SDK follows next_page_token
    assert set(ids) <= set(paged) and len(paged) == len(set(paged))
    by_name = [c.cluster_name for c in w.clusters.list(sort_by=compute.ListClustersSortBy(field=compute.ListClustersSortByField.CLUSTER_NAME))]
    assert by_name == sorted(by_name)

    everything = w.api_client.do("GET", "/api/2.0/clusters/list")  # API 2.0: every cluster at once
    assert set(ids) <= {c["cluster_id"] for c in everything["clusters"]} and "next_page_token" not in everything


def test_states_follow_the_configured_start_delay(unique: str):
    slow = start_workspace("--ephemeral", "--cluster-start-delay", "1500")
    try:
        w = slow.client()
        wait = w.clusters.create(cluster_name=f"slow-{unique}", spark_version="15.4.x-scala2.12", num_workers=0)
        c = w.clusters.get(wait.cluster_id)
        assert c.state == compute.State.PENDING and c.state_message
        assert c.node_type_id  # the service picks a node type when none is given
        with pytest.raises(DatabricksError, match="is in unexpected state Pending") as e:
            w.clusters.edit(cluster_id=wait.cluster_id, spark_version="15.4.x-scala2.12", num_workers=1)
        assert e.value.error_code == "INVALID_STATE"
        began = time.monotonic()
        assert wait.result().state == compute.State.RUNNING
        assert time.monotonic() - began > 0.5
        w.clusters.delete(wait.cluster_id)
        assert w.clusters.get(wait.cluster_id).state == compute.State.TERMINATING
        assert w.clusters.wait_get_cluster_terminated(wait.cluster_id).state == compute.State.TERMINATED
    finally:
        slow.proc.terminate()
        slow.proc.wait(timeout=10)


def test_cluster_policies(w: WorkspaceClient, unique: str):
    definition = {
        "spark_version": {"type": "fixed", "value": "15.4.x-scala2.12"},
        "autotermination_minutes": {"type": "range", "maxValue": 120, "defaultValue": 60},
        "custom_tags.cost_center": {"type": "fixed", "value": "ml-42"},
        "instance_pool_id": {"type": "forbidden"},
        "num_workers": {"type": "range", "maxValue": 4, "isOptional": True},
    }
    policy = w.cluster_policies.create(name=f"policy-{unique}", definition=json.dumps(definition), description="small clusters")
    got = w.cluster_policies.get(policy.policy_id)
    assert got.name == f"policy-{unique}" and json.loads(got.definition) == definition
    assert got.creator_user_name == "admin@lakeforge.local" and got.created_at_timestamp > 0
    assert policy.policy_id in {p.policy_id for p in w.cluster_policies.list()}
    with pytest.raises(ResourceAlreadyExists):
        w.cluster_policies.create(name=f"policy-{unique}", definition="{}")
    with pytest.raises(InvalidParameterValue):
        w.cluster_policies.create(name=f"broken-{unique}", definition="{not json")

    # Fixed values and defaults are applied, limits enforced.
    c = w.clusters.create_and_wait(
        cluster_name=f"governed-{unique}",
        spark_version="15.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=2,
        policy_id=policy.policy_id,
        apply_policy_default_values=True,
    )
    assert c.custom_tags == {"cost_center": "ml-42"} and c.autotermination_minutes == 60 and c.policy_id == policy.policy_id
    assert c.spec.apply_policy_default_values is True
    with pytest.raises(InvalidParameterValue, match="Validation failed for num_workers"):
        w.clusters.create(spark_version="15.4.x-scala2.12", num_workers=10, policy_id=policy.policy_id)
    with pytest.raises(InvalidParameterValue, match="Validation failed for spark_version"):
        w.clusters.create(spark_version="16.4.x-scala2.12", num_workers=1, policy_id=policy.policy_id)
    assert {x.cluster_id for x in w.clusters.list(filter_by=compute.ListClustersFilterBy(policy_id=policy.policy_id))} == {c.cluster_id}

    w.cluster_policies.edit(policy_id=policy.policy_id, name=f"policy-{unique}-v2", definition="{}", max_clusters_per_user=3)
    edited = w.cluster_policies.get(policy.policy_id)
    assert edited.name == f"policy-{unique}-v2" and edited.definition == "{}" and edited.max_clusters_per_user == 3
    assert edited.description is None  # an edit replaces the policy

    families = list(w.policy_families.list())
    assert "personal-vm" in {f.policy_family_id for f in families}
    personal = w.cluster_policies.create(
        name=f"personal-{unique}",
        policy_family_id="personal-vm",
        policy_family_definition_overrides=json.dumps({"autotermination_minutes": {"type": "fixed", "value": 30}}),
    )
    merged = json.loads(w.cluster_policies.get(personal.policy_id).definition)
    assert merged["autotermination_minutes"] == {"type": "fixed", "value": 30} and "node_type_id" in merged

    w.cluster_policies.delete(policy.policy_id)
    w.cluster_policies.delete(personal.policy_id)
    with pytest.raises(NotFound):
        w.cluster_policies.get(policy.policy_id)


def test_instance_pools(w: WorkspaceClient, unique: str):
    pool = w.instance_pools.create(instance_pool_name=f"pool-{unique}", node_type_id="i3.xlarge", min_idle_instances=0, max_capacity=10)
    got = w.instance_pools.get(pool.instance_pool_id)
    assert got.instance_pool_name == f"pool-{unique}" and got.node_type_id == "i3.xlarge"
    assert got.idle_instance_autotermination_minutes == 60 and got.state == compute.InstancePoolState.ACTIVE
    assert got.default_tags["DatabricksInstancePoolId"] == pool.instance_pool_id
    assert pool.instance_pool_id in {p.instance_pool_id for p in w.instance_pools.list()}

    w.instance_pools.edit(
        instance_pool_id=pool.instance_pool_id, instance_pool_name=f"pool-{unique}-2", node_type_id="i3.xlarge", max_capacity=20, custom_tags={"a": "b"}
    )
    edited = w.instance_pools.get(pool.instance_pool_id)
    assert edited.instance_pool_name == f"pool-{unique}-2" and edited.max_capacity == 20 and edited.custom_tags == {"a": "b"}

    # A cluster drawing from the pool takes its node type.
    c = w.clusters.create_and_wait(spark_version="15.4.x-scala2.12", num_workers=1, instance_pool_id=pool.instance_pool_id)
    assert c.node_type_id == "i3.xlarge" and c.driver_instance_pool_id == pool.instance_pool_id
    w.clusters.permanent_delete(c.cluster_id)

    w.instance_pools.delete(pool.instance_pool_id)
    with pytest.raises(NotFound):
        w.instance_pools.get(pool.instance_pool_id)
    with pytest.raises(NotFound):
        w.clusters.create(spark_version="15.4.x-scala2.12", num_workers=1, instance_pool_id=pool.instance_pool_id)


def test_cluster_permissions_for_other_users(local, w: WorkspaceClient, unique: str):
    user = make_user(w, f"clusters-{unique}")
    other = local.client(local.token_for(user_name=user))
    c = small_cluster(w, f"shared-{unique}")

    with pytest.raises(PermissionDenied, match=f"User {user} does not have Attach permissions on cluster {c.cluster_id}"):
        other.clusters.get(c.cluster_id)
    assert all(x.cluster_id != c.cluster_id for x in other.clusters.list())
    # Without the allow-cluster-create entitlement a user needs a policy to create clusters.
    with pytest.raises(PermissionDenied):
        other.clusters.create(spark_version="15.4.x-scala2.12", num_workers=1)

    creator = {a.user_name: [p.permission_level for p in a.all_permissions] for a in w.clusters.get_permissions(c.cluster_id).access_control_list}
    assert creator["admin@lakeforge.local"] == [compute.ClusterPermissionLevel.CAN_MANAGE]
    perms = w.clusters.set_permissions(
        c.cluster_id,
        access_control_list=[compute.ClusterAccessControlRequest(user_name=user, permission_level=compute.ClusterPermissionLevel.CAN_RESTART)],
    )
    assert perms.object_id == f"/clusters/{c.cluster_id}"
    levels = {a.user_name or a.group_name: [p.permission_level for p in a.all_permissions] for a in w.clusters.get_permissions(c.cluster_id).access_control_list}
    assert levels[user] == [compute.ClusterPermissionLevel.CAN_RESTART]
    assert levels["admins"] == [compute.ClusterPermissionLevel.CAN_MANAGE]

    assert other.clusters.get(c.cluster_id).cluster_name == f"shared-{unique}"
    assert other.clusters.restart_and_wait(c.cluster_id).state == compute.State.RUNNING
    with pytest.raises(PermissionDenied, match="Manage permissions"):
        other.clusters.edit(cluster_id=c.cluster_id, spark_version="15.4.x-scala2.12", num_workers=5)
    with pytest.raises(PermissionDenied):
        other.clusters.resize(cluster_id=c.cluster_id, num_workers=5)
    with pytest.raises(PermissionDenied):
        other.clusters.permanent_delete(c.cluster_id)
    with pytest.raises(PermissionDenied):
        other.clusters.pin(c.cluster_id)
    assert other.clusters.delete_and_wait(c.cluster_id).state == compute.State.TERMINATED

    # A policy the user may use lets them create a cluster, which they then manage.
    policy = w.cluster_policies.create(name=f"for-{unique}", definition=json.dumps({"num_workers": {"type": "range", "maxValue": 2}}))
    with pytest.raises(PermissionDenied):
        other.clusters.create(spark_version="15.4.x-scala2.12", num_workers=1, policy_id=policy.policy_id)
    with pytest.raises(PermissionDenied):
        other.cluster_policies.get(policy.policy_id)
    w.cluster_policies.set_permissions(
        policy.policy_id,
        access_control_list=[compute.ClusterPolicyAccessControlRequest(user_name=user, permission_level=compute.ClusterPolicyPermissionLevel.CAN_USE)],
    )
    assert [p.policy_id for p in other.cluster_policies.list()] == [policy.policy_id]
    mine = other.clusters.create_and_wait(spark_version="15.4.x-scala2.12", num_workers=1, policy_id=policy.policy_id)
    assert mine.creator_user_name == user
    other.clusters.edit_and_wait(cluster_id=mine.cluster_id, spark_version="15.4.x-scala2.12", num_workers=2, policy_id=policy.policy_id)
    with pytest.raises(PermissionDenied):
        other.cluster_policies.delete(policy.policy_id)
    with pytest.raises(PermissionDenied):
        other.instance_pools.create(instance_pool_name=f"p-{unique}", node_type_id="i3.xlarge")
    other.clusters.permanent_delete(mine.cluster_id)
