/*
 * loadgen HOST PORT MODEL CONCURRENCY SECONDS [ROWS [CONNECTIONS]] — bounded load:
 * CONCURRENCY predictions of ROWS (default 1) random rows in flight at all times (pipelined
 * submit/receive), spread over CONNECTIONS (default 4, as nnclient bench) from one thread,
 * for SECONDS. Prints requests/s and latency percentiles, as
 * `nnclient bench` does, and a JSON line.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "nnserve.h"

static uint64_t now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 6 || argc > 8) {
        fprintf(stderr, "usage: %s HOST PORT MODEL CONCURRENCY SECONDS [ROWS [CONNECTIONS]]\n", argv[0]);
        return 2;
    }
    const char *model = argv[3];
    int concurrency = atoi(argv[4]);
    double seconds = atof(argv[5]);
    int64_t rows = argc >= 7 ? atoll(argv[6]) : 1;
    int connections = argc == 8 ? atoi(argv[7]) : 4;
    if (concurrency < 1 || seconds <= 0 || rows < 1 || connections < 1) {
        fprintf(stderr, "CONCURRENCY, SECONDS, ROWS and CONNECTIONS must be positive\n");
        return 2;
    }
    if (connections > concurrency) connections = concurrency;
    nnserve_client **clients = calloc((size_t)connections, sizeof *clients);
    char error[256];
    for (int c = 0; c < connections; c++) {
        if (nnserve_connect(argv[1], atoi(argv[2]), 30000, &clients[c], error, sizeof error) != NNSERVE_OK) {
            fprintf(stderr, "%s\n", error);
            return 1;
        }
    }
    nnserve_client *client = clients[0];  /* asks for the metadata */
    nnserve_metadata metadata;
    if (nnserve_get_metadata(client, model, &metadata) != NNSERVE_OK) {
        fprintf(stderr, "%s\n", nnserve_last_error(client));
        return 1;
    }
    nnserve_input *inputs = calloc(metadata.input_count, sizeof *inputs);
    srand(3);
    for (size_t i = 0; i < metadata.input_count; i++) {
        float *data = malloc((size_t)(rows * metadata.inputs[i].width) * sizeof *data);
        for (int64_t v = 0; v < rows * metadata.inputs[i].width; v++) data[v] = (float)rand() / RAND_MAX - 0.5f;
        inputs[i] = (nnserve_input){metadata.inputs[i].name, data, rows, metadata.inputs[i].width};
    }
    uint64_t *ids = calloc((size_t)concurrency, sizeof *ids), *sent = calloc((size_t)concurrency, sizeof *sent);
    size_t capacity = 1 << 16, done = 0, errors = 0;
    uint64_t *latencies = malloc(capacity * sizeof *latencies);
    uint64_t start = now_ns(), end = start + (uint64_t)(seconds * 1e9);
    /* Slot s uses connection s % CONNECTIONS. */
    for (int slot = 0; slot < concurrency; slot++) {
        sent[slot] = now_ns();
        if (nnserve_submit(clients[slot % connections], model, 0, inputs, metadata.input_count, 0, &ids[slot]) != NNSERVE_OK) {
            fprintf(stderr, "%s\n", nnserve_last_error(clients[slot % connections]));
            return 1;
        }
    }
    for (int c = 0; c < connections; c++) {
        if (nnserve_flush(clients[c]) != NNSERVE_OK) {
            fprintf(stderr, "%s\n", nnserve_last_error(clients[c]));
            return 1;
        }
    }
    /* Event-driven: wait on every connection's socket, take each answer as it comes and send
     * the next request in its slot at once, so CONCURRENCY stay in flight (the library sends
     * the requests submitted for a connection together, when it next finds nothing to read). */
    struct pollfd *sockets = calloc((size_t)connections, sizeof *sockets);
    for (int c = 0; c < connections; c++) sockets[c] = (struct pollfd){.fd = nnserve_socket(clients[c]), .events = POLLIN};
    int in_flight = concurrency;
    while (in_flight > 0) {
        if (poll(sockets, (nfds_t)connections, 1000) < 0) continue;
        for (int c = 0; c < connections; c++) {
            if (!(sockets[c].revents & (POLLIN | POLLERR | POLLHUP))) continue;
            for (;;) {
                uint64_t id = 0;
                nnserve_result result;
                int status = nnserve_receive_any(clients[c], 0, &id, &result);
                if (status == NNSERVE_ERR_TIMEOUT) break;
                uint64_t finished = now_ns();
                if (status >= NNSERVE_ERR_IO) {
                    fprintf(stderr, "%s: %s\n", nnserve_status_name(status), nnserve_last_error(clients[c]));
                    return 1;
                }
                int slot = -1;
                for (int s = c; s < concurrency; s += connections)
                    if (ids[s] == id) { slot = s; break; }
                if (slot < 0) continue;
                if (status == NNSERVE_OK) {
                    if (done == capacity) latencies = realloc(latencies, (capacity *= 2) * sizeof *latencies);
                    latencies[done++] = finished - sent[slot];
                    nnserve_result_free(&result);
                } else {
                    errors++;
                }
                ids[slot] = 0;
                in_flight--;
                if (finished < end) {
                    sent[slot] = now_ns();
                    if (nnserve_submit(clients[c], model, 0, inputs, metadata.input_count, 0, &ids[slot]) != NNSERVE_OK) {
                        fprintf(stderr, "%s\n", nnserve_last_error(clients[c]));
                        return 1;
                    }
                    in_flight++;
                }
            }
        }
    }
    free(sockets);
    double elapsed = (double)(now_ns() - start) / 1e9;
    qsort(latencies, done, sizeof *latencies, compare);
#define PERCENTILE(p) (done ? (double)latencies[(size_t)((double)(done - 1) * (p))] / 1000 : 0)
    printf("%s c=%d rows/request=%lld: %.0f req/s, %.0f rows/s, p50 %.0f µs, p90 %.0f µs, p99 %.0f µs, %zu errors\n", model, concurrency,
           (long long)rows, done / elapsed, done * rows / elapsed, PERCENTILE(0.5), PERCENTILE(0.9), PERCENTILE(0.99), errors);
    printf("{\"requestsPerSecond\":%.1f,\"p50Micros\":%.1f,\"p99Micros\":%.1f,\"errors\":%zu,\"requests\":%zu}\n", done / elapsed,
           PERCENTILE(0.5), PERCENTILE(0.99), errors, done);
    for (size_t i = 0; i < metadata.input_count; i++) free((void *)inputs[i].data);
    free(inputs), free(ids), free(sent), free(latencies);
    nnserve_metadata_free(&metadata);
    for (int c = 0; c < connections; c++) nnserve_close(clients[c]);
    free(clients);
    return 0;
}
