#!/usr/bin/env bash
# The pytest suite (tests/python): the HTTP front against the debug nnserve build, and
# nntrain's TensorBoard logs read back by TensorBoard.
# Installs its PyPI requirements first, only when one is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c "import pytest, requests, prometheus_client, tensorboard, tritonclient.grpc, numpy, pandas, kserve, h2" 2>/dev/null; then
  echo "installing the Python test requirements (tests/python/requirements.txt)"
  "$python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
exec "$python" -m pytest -q -p no:cacheprovider tests/python
