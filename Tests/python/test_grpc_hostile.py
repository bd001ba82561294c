"""The gRPC front under hostile clients (issue: one gRPC client could stall every front): each
attack of grpc_attacks.py runs against the real nnserve while the health port is probed every
50 ms and a fresh tritonclient asks for a prediction. Each must hold: every probe answered
within 100 ms, the fresh client served, RSS under idle + 64 MB during the attack and back
within 10% of idle within 10 s after it, and the attack-specific bound (GOAWAY
ENHANCE_YOUR_CALM, DEADLINE_EXCEEDED per half-sent stream, cancelled calls not computed).

NNSERVE_ATTACK_SECONDS sets each attack's length (3 s here; the issue's figures are 30 s:
`python3 Tests/python/grpc_attacks.py`)."""
import os

import pytest

import grpc_attacks as attacks
from conftest import NNSERVE

SECONDS = float(os.environ.get("NNSERVE_ATTACK_SECONDS", "3"))
MB = 1 << 20


@pytest.fixture(scope="module")
def server():
    server = attacks.Server(NNSERVE, extra=["--header-timeout", "2"])
    # Warm up every path the attacks touch, so that idle RSS is the server's steady state.
    attacks.fresh_triton_infer(server.grpc)
    attacks.zero_window(server.grpc, seconds=1)
    attacks.tiny_data_frames(server.grpc, seconds=1)
    yield server
    assert server.stop() == 0


def judged(server, attack, **kwargs):
    result = attacks.judge(server, attack, seconds=SECONDS, **kwargs)
    shown = {key: value for key, value in result.items() if not key.endswith("_bytes")}
    assert result["health_failures"] == 0, shown
    assert result["health_max_ms"] < 100, shown
    assert result["fresh_client_served"] == [True], shown
    assert result["peak_bytes"] < result["idle_bytes"] + 64 * MB, shown
    assert result["after_bytes"] <= 1.1 * result["idle_bytes"], shown
    return result


def test_a_message_in_64_byte_frames_stalls_nothing(server):
    result = judged(server, attacks.tiny_data_frames)
    assert result["sent"] > 64 * 1000, "the attack ran"


def test_a_window_update_flood_is_sent_away(server):
    before = server.metric("nnserve_abusive_clients_closed_total", reason="window_updates")
    result = judged(server, attacks.window_update_flood, connections=2)
    assert result["closed_by_server"] > 0 and result["goaways"] == {11}, result  # ENHANCE_YOUR_CALM
    assert server.metric("nnserve_abusive_clients_closed_total", reason="window_updates") - before >= result["closed_by_server"]


def test_answers_left_behind_a_zero_window_are_bounded(server):
    result = judged(server, attacks.zero_window)
    assert result["closed"] and result["goaway"] == 11, result
    assert server.metric("nnserve_abusive_clients_closed_total", reason="unread_answers") >= 1


def test_half_sent_messages_end_at_the_header_timeout(server):
    # Long enough for the last stream opened to pass the 2 s header timeout.
    result = attacks.judge(server, attacks.half_sent_messages, seconds=max(SECONDS, 6))
    assert result["health_failures"] == 0 and result["health_max_ms"] < 100, result
    assert result["peak_bytes"] < result["idle_bytes"] + 64 * MB, result
    assert result["ended_by_server"] == result["opened"] == 255, result
    assert result["statuses"] == {4}, result  # DEADLINE_EXCEEDED


def test_rapid_reset_computes_only_what_had_started(server):
    queued = server.metric("nnserve_cancelled_requests_total", stage="queued")
    computing = server.metric("nnserve_cancelled_requests_total", stage="computing")
    ok = server.metric("nnserve_requests_total", protocol="grpc", outcome="ok")
    result = judged(server, attacks.rapid_reset)
    skipped = server.metric("nnserve_cancelled_requests_total", stage="queued") - queued
    computed = server.metric("nnserve_requests_total", protocol="grpc", outcome="ok") - ok
    assert result["sent"] > 100, result
    # Every call was reset right after it was sent: those the server saw reset before their
    # batch ran were skipped, and only calls already computing (or answered) ran.
    assert skipped > result["sent"] / 2, (skipped, result)
    assert computed <= result["sent"] - skipped + 1, (computed, skipped, result)
    assert server.metric("nnserve_cancelled_requests_total", stage="computing") >= computing


def test_clients_that_disconnect_with_calls_in_flight_leave_no_memory(server):
    idle = server.rss()
    attacks.disconnect_in_flight(server.grpc, rounds=8)
    attacks.fresh_triton_infer(server.grpc)
    assert server.rss() <= 1.1 * idle, (server.rss() / MB, idle / MB)


def test_idle_connections_holding_every_slot_make_room_for_a_fresh_client():
    server = attacks.Server(NNSERVE, extra=["--max-grpc-connections", "32"])
    try:
        before = server.metric("nnserve_idle_connections_reclaimed_total", protocol="grpc")
        result = attacks.judge(server, attacks.slot_holders, seconds=max(SECONDS, 3), connections=32, every=2.0)
        assert result["connected"] == 32, result
        assert result["fresh_client_served"] == [True], result
        assert result["health_failures"] == 0, result
        assert server.metric("nnserve_idle_connections_reclaimed_total", protocol="grpc") - before >= 1
        # The memory of closed connections goes back to the system (a trim after closes).
        assert result["after_bytes"] <= 1.1 * result["idle_bytes"], result
    finally:
        assert server.stop() == 0


def test_a_connection_may_wait_before_its_first_call_but_not_for_its_preface(server):
    """The header timeout (2 s here) holds a connection to its HTTP/2 preface, a TLS
    handshake or a trickle included; after it, a client may keep its connection open before
    its first call (channels that connect eagerly do)."""
    import socket
    import time
    early = attacks.RawClient(server.grpc)
    time.sleep(3)
    early.call(1, attacks.LIVE)
    early.flush()
    deadline = time.monotonic() + 5
    while 1 not in early.statuses and time.monotonic() < deadline and not early.closed:
        early.poll(0.1)
    early.close()
    assert early.statuses.get(1) == 0, (early.statuses, early.closed, early.goaway)

    stalled = socket.create_connection(("127.0.0.1", server.grpc), timeout=8)
    stalled.sendall(b"PRI * HTTP/2.0\r\n")  # half a preface, then nothing
    started = time.monotonic()
    closed = False
    try:
        while stalled.recv(1024):  # the server's own SETTINGS come first
            pass
        closed = True
    except ConnectionResetError:
        closed = True
    except socket.timeout:
        pass
    stalled.close()
    assert closed and time.monotonic() - started < 6, "a half preface was held past the header timeout"
