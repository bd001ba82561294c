"""Checks of ops/ that need nnserve itself (run by ops/ops-check.sh after the tool checks):

1. Every nnserve/nnclient flag the deployment artifacts pass exists (`--help` of the binaries
   just built), so a renamed flag cannot leave a manifest that crash-loops.
2. Every metric the alert rules and the Grafana dashboard query is one a live nnserve exports
   (a real server on models/, after one prediction, scraped over HTTP).
3. The KServe resources carry what KServe needs from a v2 runtime, and their containers pass
   kubernetes-validate as containers of a Pod (KServe's CRDs have no bundled schema).

Usage: python3 ops/ops_check.py BUILD_DIR  (BUILD_DIR holds nnserve and nnclient)
"""
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OPS = ROOT / "ops"
failures = []


def check(condition, message):
    print(("ok   " if condition else "FAIL ") + message)
    if not condition:
        failures.append(message)


def flags_of(binary, *subcommand):
    text = subprocess.run([binary, *subcommand, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"--[a-z][a-z0-9-]*", text))


def used_flags(arguments):
    # "--grpc-port=-1": the flag is the part before "=" (a negative value must be attached, or
    # the argument parser reads "-1" as an option).
    return {argument.split("=", 1)[0] for argument in arguments if isinstance(argument, str) and argument.startswith("--")}


def check_flags(build):
    nnserve = flags_of(str(build / "nnserve"))
    nnclient_health = flags_of(str(build / "nnclient"), "health")
    documents = [doc for path in ["k8s/nnserve.yaml", "kserve/nnserve-runtime.yaml"]
                 for doc in yaml.safe_load_all((OPS / path).read_text())]
    for doc in documents:
        spec = doc.get("spec", {})
        containers = spec.get("containers", []) + spec.get("template", {}).get("spec", {}).get("containers", [])
        for container in containers:
            unknown = used_flags(container.get("args", [])) - nnserve
            check(not unknown, f"{doc['kind']} {doc['metadata']['name']}: nnserve accepts its flags {sorted(used_flags(container.get('args', [])))}"
                  + (f" (unknown: {sorted(unknown)})" if unknown else ""))
    unit = (OPS / "systemd/nnserve.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    unknown = used_flags(exec_start.split()) - nnserve
    check(not unknown, f"systemd ExecStart: nnserve accepts its flags" + (f" (unknown: {sorted(unknown)})" if unknown else ""))
    dockerfile = (OPS / "docker/Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    health = json.loads(re.search(r'HEALTHCHECK .* CMD (\[.*\])$', dockerfile, re.M).group(1))
    check(not used_flags(cmd) - nnserve, f"Dockerfile CMD: nnserve accepts {sorted(used_flags(cmd))}")
    check(health[:2] == ["nnclient", "health"] and not used_flags(health) - nnclient_health,
          f"Dockerfile HEALTHCHECK: nnclient health accepts {sorted(used_flags(health))}")


def metric_names(expression):
    names = set(re.findall(r"\b((?:nnserve|process)_[a-z0-9_]+)", expression))
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def exported_metrics(build):
    server = subprocess.Popen([str(build / "nnserve"), str(ROOT / "models"), "--port", "0", "--http-port", "0", "--grpc-port", "0", "--poll-interval", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        port = int(re.search(r"http [^:]+:(\d+)", line).group(1))
        body = json.dumps({"inputs": [{"name": "features", "shape": [1, 9], "datatype": "FP32",
                                       "data": [0.23, 4, 5, 1, 61.5, 55, 3.95, 3.98, 2.43]}]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/diamonds/infer", data=body,
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()
        time.sleep(0.2)
        exposition = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}


def check_metrics(build):
    exported = exported_metrics(build)
    check(len(exported) > 10, f"a live nnserve exports {len(exported)} metric families")
    rules = yaml.safe_load((OPS / "prometheus/nnserve-alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        missing = metric_names(rule["expr"]) - exported
        check(not missing, f"alert {rule['alert']} queries exported metrics" + (f" (missing: {sorted(missing)})" if missing else ""))
    dashboard = json.loads((OPS / "grafana/nnserve-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        missing = set().union(*(metric_names(target["expr"]) for target in panel["targets"])) - exported
        check(not missing, f"dashboard panel '{panel['title']}' queries exported metrics" + (f" (missing: {sorted(missing)})" if missing else ""))


def check_kserve():
    runtime, service = list(yaml.safe_load_all((OPS / "kserve/nnserve-runtime.yaml").read_text()))
    check(runtime["apiVersion"] == "serving.kserve.io/v1alpha1" and runtime["kind"] == "ServingRuntime", "ServingRuntime kind and version")
    check("v2" in runtime["spec"]["protocolVersions"], "ServingRuntime speaks the v2 protocol")
    formats = {entry["name"] for entry in runtime["spec"]["supportedModelFormats"]}
    check(service["spec"]["predictor"]["model"]["modelFormat"]["name"] in formats, "InferenceService asks for a format the runtime supports")
    check(service["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"], "InferenceService names the runtime")
    container = runtime["spec"]["containers"][0]
    check(container["name"] == "kserve-container", "the runtime's container is kserve-container (KServe injects storage there)")
    check("/mnt/models" in container["args"] and "--model-name" in container["args"], "the runtime serves /mnt/models as one model")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runtime-container"}, "spec": {"containers": runtime["spec"]["containers"]}}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump(pod, file)
    result = subprocess.run(["kubernetes-validate", "--strict", "--quiet", file.name], capture_output=True, text=True)
    check(result.returncode == 0, "the runtime's container passes kubernetes-validate as a Pod container" + (f": {result.stdout}{result.stderr}" if result.returncode else ""))


if __name__ == "__main__":
    build = Path(sys.argv[1]).resolve()
    check_flags(build)
    check_metrics(build)
    check_kserve()
    print(f"ops checks: {len(failures)} failed")
    sys.exit(1 if failures else 0)
