/**
 * The Python program that runs the MLflow tracking server for the local workspace. It runs the
 * `mlflow server` application (FastAPI around MLflow's Flask app, served by uvicorn, as `mlflow
 * server` does) in one process, so that the workspace supervises a single child:
 *
 * - it exits when its parent does (Linux parent-death signal, and a watchdog for other systems);
 * - it binds a free loopback port itself and prints `LAKEFORGE_MLFLOW_READY <port>` once the
 *   SQLite schema is migrated and the stores answer;
 * - it prints `LAKEFORGE_MLFLOW_UNAVAILABLE <reason>` and exits 3 when mlflow cannot be imported;
 * - it adds one internal route, `POST <prefix>/__lakeforge/experiments/sync`, through which the
 *   workspace mirrors its experiments (same ids, names and lifecycle) into the tracking store.
 *
 * Configuration arrives as JSON in the first argument (no secrets).
 */
export const LAUNCHER_PY = `
import json
import os
import signal
import socket
import sys
import threading
import time

config = json.loads(sys.argv[1])
parent = int(config["parent_pid"])


def _die_with_parent():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent:
        os._exit(0)

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


_die_with_parent()

os.environ.update(
    {
        "_MLFLOW_SERVER_FILE_STORE": config["backend_store_uri"],
        "_MLFLOW_SERVER_REGISTRY_STORE": config["backend_store_uri"],
        "_MLFLOW_SERVER_ARTIFACT_ROOT": "mlflow-artifacts:/",
        "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
        "_MLFLOW_SERVER_ARTIFACT_DESTINATION": config["artifacts_destination"],
        "_MLFLOW_STATIC_PREFIX": config["static_prefix"],
        "_MLFLOW_SGI_NAME": "uvicorn",
    }
)

try:
    import uvicorn
    from flask import jsonify, request

    from mlflow.entities import LifecycleStage
    from mlflow.server import app as flask_app
    from mlflow.server import handlers
    from mlflow.store.tracking.dbmodels.models import SqlExperiment
except Exception as error:  # noqa: BLE001
    print(f"LAKEFORGE_MLFLOW_UNAVAILABLE {type(error).__name__}: {error}", flush=True)
    sys.exit(3)

store = handlers._get_tracking_store()
handlers._get_model_registry_store()


@flask_app.route(config["static_prefix"] + "/__lakeforge/experiments/sync", methods=["POST"])
def _sync_experiments():
    """Upserts experiments by id; another experiment holding a wanted name is renamed aside."""
    wanted = request.get_json(force=True).get("experiments", [])
    with store.ManagedSessionMaker() as session:
        for item in wanted:
            exp_id = int(item["experiment_id"])
            name = item["name"]
            stage = LifecycleStage.ACTIVE if item["lifecycle_stage"] == "active" else LifecycleStage.DELETED
            for other in session.query(SqlExperiment).filter(
                SqlExperiment.name == name, SqlExperiment.experiment_id != exp_id
            ):
                other.name = f"{other.name} ({other.experiment_id})"
            session.flush()
            row = session.query(SqlExperiment).filter(SqlExperiment.experiment_id == exp_id).one_or_none()
            if row is None:
                row = store._with_workspace_field(
                    SqlExperiment(
                        experiment_id=exp_id,
                        name=name,
                        artifact_location=item["artifact_location"],
                        lifecycle_stage=stage,
                        creation_time=int(item["creation_time"]),
                        last_update_time=int(item["last_update_time"]),
                    )
                )
                session.add(row)
            else:
                row.name = name
                row.lifecycle_stage = stage
                row.last_update_time = int(item["last_update_time"])
            session.flush()
    return jsonify({"synced": len(wanted)})


from mlflow.server.fastapi_app import app  # noqa: E402  (reads the environment set above)

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((config["host"], 0))
sock.listen(128)
print(f"LAKEFORGE_MLFLOW_READY {sock.getsockname()[1]}", flush=True)

server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
server.run(sockets=[sock])
`;
