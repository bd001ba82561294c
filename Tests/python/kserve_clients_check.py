"""Run by test_kserve_clients.py in its own process: the kserve package's protobuf module
defines the same `inference.*` messages as tritonclient's, and one process's descriptor pool
cannot hold both. Prints one JSON object with what its clients got."""
import asyncio
import json
import sys

import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

DIAMONDS = np.array([[0.23, 4, 5, 1, 61.5, 55, 3.95, 3.98, 2.43], [1.5, 3, 2, 4, 62.1, 57, 7.3, 7.35, 4.55]], dtype=np.float32)


def request(model="diamonds"):
    tensor = InferInput(name="features", shape=list(DIAMONDS.shape), datatype="FP32")
    tensor.set_data_from_numpy(DIAMONDS)
    return InferRequest(model_name=model, infer_inputs=[tensor], request_id="kserve-1")


async def main(grpc_address, http_base):
    report = {}
    client = InferenceGRPCClient(url=grpc_address, timeout=30)
    try:
        live, ready = await client.is_server_live(), await client.is_server_ready()
        response = await client.infer(request())
        report["grpc"] = {"live": live, "ready": ready, "id": response.id, "model": response.model_name, "prices": response.outputs[0].as_numpy().ravel().tolist()}
        try:
            await client.infer(request("nope"))
        except Exception as error:  # the client's own exception type varies by version
            report["grpc"]["error"] = str(error)
    finally:
        await client.close()
    rest = InferenceRESTClient(config=RESTConfig(protocol="v2", timeout=30))
    try:
        live = await rest.is_server_live(http_base)
        ready = await rest.is_server_ready(http_base)
        model_ready = await rest.is_model_ready(http_base, "diamonds")
        response = await rest.infer(http_base, request(), model_name="diamonds")
        report["rest"] = {"live": live, "ready": ready, "model_ready": model_ready, "model": response.model_name, "prices": np.asarray(response.outputs[0].as_numpy(), dtype=np.float32).ravel().tolist()}
        try:
            await rest.infer(http_base, request("nope"), model_name="nope")
        except Exception as error:
            report["rest"]["error"] = str(error)
    finally:
        await rest.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
