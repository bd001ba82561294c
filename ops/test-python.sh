#!/usr/bin/env bash
# The pytest suite (Tests/python): the HTTP front against the debug nnserve build, and
# nntrain's TensorBoard logs read back by TensorBoard.
# Installs its PyPI requirements first, only when one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
# kserve and tritonclient.grpc register the same protobuf symbols: one process imports one.
if ! "$python" -c "import pytest, requests, prometheus_client, tensorboard, tritonclient.grpc, numpy, pandas, h2, grpc_health.v1.health_pb2, onnx, onnxruntime" 2>/dev/null \
   || ! "$python" -c "import kserve" 2>/dev/null; then
  echo "installing the Python test requirements (Tests/python/requirements.txt)"
  "$python" -m pip install --quiet --disable-pip-version-check -r Tests/python/requirements.txt
fi
exec "$python" -m pytest -q -p no:cacheprovider Tests/python
