"""The `kserve` package's own inference clients against nnserve: InferenceGRPCClient (the
Open Inference Protocol over gRPC) and InferenceRESTClient (v2 over HTTP) get what the HTTP
front answers, and a server error reaches them. They run in their own process
(kserve_clients_check.py): kserve and tritonclient register the same protobuf messages."""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(__file__)
DIAMONDS = np.array([[0.23, 4, 5, 1, 61.5, 55, 3.95, 3.98, 2.43], [1.5, 3, 2, 4, 62.1, 57, 7.3, 7.35, 4.55]], dtype=np.float32)


def test_kserve_grpc_and_rest_clients(server):
    result = subprocess.run([sys.executable, os.path.join(HERE, "kserve_clients_check.py"), server.grpc, server.base],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    body = {"inputs": [{"name": "features", "shape": [2, 9], "datatype": "FP32", "data": DIAMONDS.ravel().tolist()}]}
    expected = server.http.post(server.url("/v2/models/diamonds/infer"), json=body).json()["outputs"][0]["data"]
    assert report["grpc"]["id"] == "kserve-1" and report["grpc"]["model"] == "diamonds"
    assert np.array_equal(np.float32(report["grpc"]["prices"]), np.float32(expected))
    assert "unknown model 'nope'" in report["grpc"]["error"]
    # The REST SDK reads the v2 bodies ({"live": true}, {"ready": true}); an empty 200 crashed it.
    assert (report["rest"]["live"], report["rest"]["ready"], report["rest"]["model_ready"]) == (True, True, True)
    assert (report["grpc"]["live"], report["grpc"]["ready"]) == (True, True)
    assert report["rest"]["model"] == "diamonds"
    assert np.array_equal(np.float32(report["rest"]["prices"]), np.float32(expected))
    assert "nope" in report["rest"]["error"]
