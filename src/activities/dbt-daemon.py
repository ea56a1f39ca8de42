"""A long-lived dbt for runDbt (src/activities/dbt.ts, dbt-daemon.ts): imports dbt once and serves builds.

Started by the worker with the Python of dbt's virtualenv, in the dbt project directory. It reads one JSON request
per line on stdin and answers one JSON line per request on stdout; dbt's own console output goes to stderr (where
runDbt reads the progress for its heartbeats and the tail for its errors). Requests run one at a time.

  request:  {"id": 1, "key": "...", "env": {...}, "parseArgs": ["parse", ...], "args": ["build", ...],
             "runResults": "<target>/run_results.json"}
  response: {"id": 1, "exitCode": 0 | 1 | 2, "parsed": true | false, "error": "..." (exit 2 only)}

The first line written is {"ready": true, "dbt": "<version>"} once dbt is imported.

What it saves over a `dbt` process per build: Python importing dbt (about 4 s here) and dbt checking and writing its
manifest before the first node (2-3 s). `key` names everything the parsed manifest depends on (the project's files,
--vars, the profile's settings, the dbt install: runDbt's partial-parse key). While it stays the same the manifest
parsed for it is reused (dbtRunner(manifest=...)); when it changes, `parseArgs` (a `dbt parse` with the same
settings and the saved partial-parse state) parses again. The run date reaches dbt through the environment
(DBT_RUN_DATE) that `env` replaces for every request, and dbt reads it when it compiles the nodes, every build.

Before every build the nodes' compile state is put back as the parse left it: compiling a node writes into the
manifest (its compiled SQL, and the ephemeral models' CTEs, which dbt injects into a node once and then never again),
so a reused manifest would carry the previous build's SQL, with the previous run date, into the next. (A copy of the
manifest would do the same, but dbt 1.11's Manifest.__reduce_ex__ passes its fields in the wrong order, so
copy.deepcopy returns a broken manifest, and Manifest.deepcopy leaves out the unit tests' fixtures.)

Exit codes are the dbt CLI's: 0 success, 1 a node failed (run_results.json says which), 2 dbt raised.
The process ends when stdin closes (the worker is gone) or on SIGTERM/SIGKILL (runDbt's cancel).
"""

import copy
import json
import os
import sys
import traceback


def die_with_the_worker():
    """Linux: SIGKILL this process when the worker that started it dies, even mid-build (a dbt process of its own
    would run on, without the worker's build lock). Elsewhere it ends when it next reads stdin and finds it closed."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if len(sys.argv) > 1 and str(os.getppid()) != sys.argv[1]:  # the worker (its pid passed) died before prctl
        os._exit(1)


die_with_the_worker()

# The answers go to a private copy of stdout; everything dbt prints goes to stderr.
answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)

from dbt.cli.main import dbtRunner  # noqa: E402  (after the redirect: dbt may print while importing)
from dbt.contracts.graph.manifest import Manifest  # noqa: E402
from dbt.version import __version__ as dbt_version  # noqa: E402


def answer(message):
    answers.write(json.dumps(message) + "\n")
    answers.flush()


def exit_code(result):
    """The dbt CLI's exit code for a dbtRunnerResult (dbt/cli/main.py: ResultExit 1, ExceptionExit 2)."""
    if result.success:
        return 0
    return 1 if result.exception is None else 2


# What compiling a node changes on it (dbt/compilation.py), put back before every build.
COMPILE_STATE = (
    "compiled",
    "compiled_code",
    "compiled_path",
    "extra_ctes_injected",
    "extra_ctes",
    "_pre_injected_sql",
    "relation_name",
)


def compile_state(manifest):
    """The nodes' compile state as the parse left it."""
    return {
        unique_id: {name: copy.copy(getattr(node, name)) for name in COMPILE_STATE if hasattr(node, name)}
        for unique_id, node in manifest.nodes.items()
    }


def restore_compile_state(manifest, state):
    for unique_id, fields in state.items():
        node = manifest.nodes[unique_id]
        for name, value in fields.items():
            setattr(node, name, copy.copy(value))


def serve():
    parsed_key = None
    parsed = None  # the Manifest parsed for parsed_key
    parsed_state = None  # its nodes' compile state after the parse
    answer({"ready": True, "dbt": dbt_version, "pid": os.getpid()})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        response = {"id": request.get("id"), "parsed": False}
        try:
            os.environ.clear()
            os.environ.update(request["env"])
            if parsed is None or parsed_key != request["key"]:
                parsed, parsed_key = None, None
                result = dbtRunner().invoke(request["parseArgs"])
                if not result.success or not isinstance(result.result, Manifest):
                    response["exitCode"] = 2
                    response["error"] = f"dbt parse failed: {result.exception or 'see the log'}"
                    answer(response)
                    continue
                parsed, parsed_key = result.result, request["key"]
                parsed_state = compile_state(parsed)
                response["parsed"] = True
            restore_compile_state(parsed, parsed_state)
            result = dbtRunner(manifest=parsed).invoke(request["args"])
            if request.get("runResults") and hasattr(result.result, "write"):
                # The build ran with --no-write-json: dbt's manifest.json would be the same file every build.
                result.result.write(request["runResults"])
            response["exitCode"] = exit_code(result)
            if result.exception is not None:
                response["error"] = str(result.exception)
        except Exception:  # a bug here or in dbt: report it as dbt's crash, forget the manifest, keep serving
            parsed, parsed_key = None, None
            text = traceback.format_exc()
            print(text, file=sys.stderr, flush=True)
            response["exitCode"] = 2
            response["error"] = text.strip().splitlines()[-1]
        answer(response)


if __name__ == "__main__":
    serve()
