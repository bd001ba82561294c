/*
 * nnserve's binary protocol from C (protobuf-c).
 *
 * Contract
 * - A client is one TCP connection and all the state there is: no globals, no threads. A
 *   client is not thread-safe; use one per thread (or lock around it).
 * - Every function returns NNSERVE_OK (0) or an error code; the message of the last error
 *   of a client is nnserve_last_error(client) (valid until the next call on that client).
 *   Codes 1-6 are the server's answer (the protocol's ErrorCode); the connection stays
 *   usable. NNSERVE_ERR_TIMEOUT (no answer in time) leaves it usable too (a late answer is
 *   dropped when it comes). NNSERVE_ERR_IO (including a send that could not finish in time)
 *   and NNSERVE_ERR_PROTOCOL mean the connection is broken: close it.
 * - Requests are pipelined: nnserve_submit queues a request and returns its id; nnserve_receive
 *   waits for that id's answer (answers to other ids that arrive meanwhile are kept for their
 *   own receive). Queued requests are sent together when the client next waits for an answer
 *   (or the queue passes 64 KiB, or nnserve_flush is called), so a burst of submits costs one
 *   system call. nnserve_predict is submit + receive.
 * - Inputs are borrowed for the call; results are owned by the caller and freed with
 *   nnserve_result_free / nnserve_metadata_free / nnserve_models_free.
 * - Every wait, connecting included, is bounded by the timeout given to nnserve_connect.
 */
#ifndef NNSERVE_H
#define NNSERVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    NNSERVE_OK = 0,
    /* The server's answer (the wire protocol's ErrorCode). */
    NNSERVE_ERR_INVALID_ARGUMENT = 1,
    NNSERVE_ERR_NOT_FOUND = 2,
    NNSERVE_ERR_RESOURCE_EXHAUSTED = 3,
    NNSERVE_ERR_DEADLINE_EXCEEDED = 4,
    NNSERVE_ERR_UNAVAILABLE = 5,
    NNSERVE_ERR_INTERNAL = 6,
    /* The client's own. */
    NNSERVE_ERR_IO = 100,        /* connect, send or receive failed, or the server closed */
    NNSERVE_ERR_TIMEOUT = 101,   /* no answer within the timeout */
    NNSERVE_ERR_PROTOCOL = 102,  /* an answer that does not decode, or an oversized frame */
    NNSERVE_ERR_NO_MEMORY = 103,
    NNSERVE_ERR_USAGE = 104      /* a NULL or inconsistent argument, an unknown request id */
} nnserve_status;

typedef struct nnserve_client nnserve_client;

/* One input: `rows` × `width` float32 values, row-major. For a model taking raw rows, one
 * input per raw column instead: `rows` values in `data` (NaN: a gap), or `rows` strings in
 * `text` (NULL, "" or "NA": a gap; `data` NULL), with `width` 1. */
typedef struct {
    const char *name;
    const float *data;
    int64_t rows;
    int64_t width;
    const char *const *text;
} nnserve_input;

typedef struct {
    char *name;
    float *data;   /* rows × width, row-major */
    int64_t rows;
    int64_t width;
} nnserve_output;

typedef struct {
    nnserve_output *outputs;
    size_t count;
} nnserve_result;

typedef struct {
    char *name;
    int64_t width;
} nnserve_tensor_info;

typedef struct {
    char *model;
    int64_t *versions;
    size_t version_count;
    nnserve_tensor_info *inputs;
    size_t input_count;
    nnserve_tensor_info *outputs;
    size_t output_count;
    int32_t max_batch_size;
} nnserve_metadata;

/* Connects to host:port and sends the protocol preface. On failure *client is NULL and, when
 * `error` is not NULL, the reason is written there (at most `error_size` bytes). */
int nnserve_connect(const char *host, int port, int timeout_ms, nnserve_client **client, char *error, size_t error_size);
void nnserve_close(nnserve_client *client);
const char *nnserve_last_error(const nnserve_client *client);
/* A name for a code ("INVALID_ARGUMENT", "TIMEOUT", …). */
const char *nnserve_status_name(int status);

/* version 0: the newest; timeout_micros 0: the model's default. */
int nnserve_submit(nnserve_client *client, const char *model, int64_t version, const nnserve_input *inputs, size_t input_count,
                   int64_t timeout_micros, uint64_t *request_id);
int nnserve_receive(nnserve_client *client, uint64_t request_id, nnserve_result *result);
/* The next answer to any submitted request, within `timeout_ms` (0: only one already
 * received); *request_id says which. For event loops: poll nnserve_socket(client) for input,
 * then call this with 0 until it returns NNSERVE_ERR_TIMEOUT. An error answer returns its
 * code with *request_id set. */
int nnserve_receive_any(nnserve_client *client, int timeout_ms, uint64_t *request_id, nnserve_result *result);
/* Sends the queued requests now (the receive functions do it before they wait). */
int nnserve_flush(nnserve_client *client);
/* The connection's socket, to wait on with poll/epoll (do not read or write it). Call
 * nnserve_flush (or a receive function) before waiting on it. */
int nnserve_socket(const nnserve_client *client);
int nnserve_predict(nnserve_client *client, const char *model, const nnserve_input *inputs, size_t input_count, nnserve_result *result);
void nnserve_result_free(nnserve_result *result);

int nnserve_get_metadata(nnserve_client *client, const char *model, nnserve_metadata *metadata);
void nnserve_metadata_free(nnserve_metadata *metadata);
/* The names of the served models. */
int nnserve_list_models(nnserve_client *client, char ***names, size_t *count);
void nnserve_models_free(char **names, size_t count);

#ifdef __cplusplus
}
#endif

#endif
