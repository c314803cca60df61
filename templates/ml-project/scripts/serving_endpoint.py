"""Creates or updates the model serving endpoint so it serves the @champion version.

Runs as the last task of the training job, after deploy. A serving endpoint needs an existing model
version, so it is not a bundle resource (which would fail the first deploy, before any training run):
this task creates it once a champion exists and moves it to each new champion afterwards.

    python scripts/serving_endpoint.py --model <catalog>.<schema>.<model> --endpoint-name <name> \
        [--query-group <group> ...] [--workload-size Small]

Exits 0 without doing anything when the model has no @champion yet.
"""

from __future__ import annotations

import argparse
import sys


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Unity Catalog name of the model: catalog.schema.model")
    parser.add_argument("--endpoint-name", required=True)
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--workload-size", default="Small", choices=["Small", "Medium", "Large"])
    parser.add_argument("--query-group", action="append", default=[], help="group allowed to query (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here so --help works without the SDK installed.
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound, ResourceDoesNotExist
    from databricks.sdk.service.serving import (
        EndpointCoreConfigInput,
        ServedEntityInput,
        ServingEndpointAccessControlRequest,
        ServingEndpointPermissionLevel,
    )

    w = WorkspaceClient()
    try:
        version = w.model_versions.get_by_alias(args.model, args.alias).version
    except (NotFound, ResourceDoesNotExist):
        print(f"{args.model} has no @{args.alias} version yet: no endpoint to create")
        return 0

    entity = ServedEntityInput(
        entity_name=args.model,
        entity_version=str(version),
        workload_size=args.workload_size,
        scale_to_zero_enabled=True,
    )
    try:
        current = w.serving_endpoints.get(args.endpoint_name)
    except (NotFound, ResourceDoesNotExist):
        current = None

    if current is None:
        print(f"creating endpoint {args.endpoint_name} serving {args.model} version {version}")
        w.serving_endpoints.create(
            name=args.endpoint_name,
            config=EndpointCoreConfigInput(name=args.endpoint_name, served_entities=[entity]),
        )
        endpoint_id = w.serving_endpoints.get(args.endpoint_name).id
    else:
        served = [(e.entity_name, e.entity_version) for e in (current.config.served_entities or [])] if current.config else []
        if served == [(args.model, str(version))]:
            print(f"endpoint {args.endpoint_name} already serves {args.model} version {version}")
        else:
            print(f"updating endpoint {args.endpoint_name} to {args.model} version {version}")
            w.serving_endpoints.update_config(name=args.endpoint_name, served_entities=[entity])
        endpoint_id = current.id

    if args.query_group and endpoint_id:
        w.serving_endpoints.update_permissions(
            serving_endpoint_id=endpoint_id,
            access_control_list=[
                ServingEndpointAccessControlRequest(
                    group_name=group, permission_level=ServingEndpointPermissionLevel.CAN_QUERY
                )
                for group in args.query_group
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
