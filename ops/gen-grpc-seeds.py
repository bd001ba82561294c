#!/usr/bin/env python3
"""Writes the hostile frame patterns of issue 33 as fuzz-grpc seeds (Fuzz/corpus/grpc/attack-*):
what a client sends, preface included, from the `h2` package, each under libFuzzer's 64 KiB
max_len. The fuzzer mutates from them, so the flood budget, the unsent-answer bound, the
per-stream deadline and cancellation paths are where it starts. Rerun after changing a pattern:
python3 ops/gen-grpc-seeds.py"""
import os
import struct

import h2.config
import h2.connection
import h2.settings

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fuzz", "corpus", "grpc")
INFER = "/inference.GRPCInferenceService/ModelInfer"
LIMIT = 65536


def client(initial_window=None):
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    connection.initiate_connection()
    if initial_window is not None:
        connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window})
    return connection


def headers(connection, stream, extra=(), end_stream=False):
    connection.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", INFER), (":authority", "x"),
                                     ("content-type", "application/grpc"), ("te", "trailers"), *extra], end_stream=end_stream)


def message(rows=1):
    """A framed ModelInferRequest for the fuzz target's model "m" (input x, 4 features)."""
    from tritonclient.grpc import service_pb2
    request = service_pb2.ModelInferRequest(model_name="m")
    tensor = request.inputs.add()
    tensor.name, tensor.datatype = "x", "FP32"
    tensor.shape.extend([rows, 4])
    request.raw_input_contents.append(struct.pack(f"<{rows * 4}f", *([0.5] * rows * 4)))
    body = request.SerializeToString()
    return b"\x00" + struct.pack(">I", len(body)) + body


def window_update_flood():
    connection = client()
    data = connection.data_to_send()
    frame = struct.pack(">I", 4)[1:] + b"\x08\x00" + struct.pack(">I", 0) + struct.pack(">I", 1)
    return data + frame * ((LIMIT - len(data)) // len(frame))


def tiny_data_frames():
    connection = client()
    headers(connection, 1)
    whole = message(20)
    for start in range(0, len(whole), 3):
        connection.send_data(1, whole[start:start + 3], end_stream=start + 3 >= len(whole))
    return connection.data_to_send()


def zero_window_calls():
    connection = client(initial_window=0)
    for index in range(40):
        stream = 2 * index + 1
        headers(connection, stream)
        connection.send_data(stream, message(4), end_stream=True)
    return connection.data_to_send()


def half_sent_streams():
    connection = client()
    for index in range(14):
        stream = 2 * index + 1
        headers(connection, stream)
        connection.send_data(stream, b"\x00" + struct.pack(">I", 4000) + b"\x00" * 200)
    return connection.data_to_send()


def rapid_reset():
    connection = client()
    for index in range(300):
        stream = 2 * index + 1
        headers(connection, stream)
        connection.send_data(stream, message(1), end_stream=True)
        connection.reset_stream(stream)
    return connection.data_to_send()[:LIMIT]


def repeated_authorization():
    connection = client()
    headers(connection, 1, extra=[("authorization", "Bearer a"), ("authorization", "Bearer b")])
    connection.send_data(1, message(1), end_stream=True)
    return connection.data_to_send()


def main():
    for name, make in [("window-update-flood", window_update_flood), ("tiny-data-frames", tiny_data_frames),
                       ("zero-window-calls", zero_window_calls), ("half-sent-streams", half_sent_streams),
                       ("rapid-reset", rapid_reset), ("repeated-authorization", repeated_authorization)]:
        data = make()
        assert len(data) <= LIMIT, (name, len(data))
        with open(os.path.join(OUT, f"attack-{name}"), "wb") as seed:
            seed.write(data)
        print(f"attack-{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
