/*
 * nnserve's binary protocol client (see include/nnserve.h for the contract).
 *
 * Framing: after the 8-byte preface ("NNSP" + version 1, big-endian), every frame is a 4-byte
 * big-endian length and one protobuf message (Request out, Response in), matched by id.
 */
#define _POSIX_C_SOURCE 200809L
#include "nnserve.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wire.pb-c.h"

enum { PROTOCOL_VERSION = 1, MAX_FRAME = 16 << 20 };

/* An answer that arrived while the client waited for another id. */
typedef struct {
    uint64_t id;
    Nnserve__Response *response;
} pending_answer;

struct nnserve_client {
    int socket;
    int timeout_ms;
    uint64_t next_id;
    char error[512];
    pending_answer *pending;
    size_t pending_count, pending_capacity;
    /* Ids whose wait timed out: their answers are dropped when they come. */
    uint64_t *abandoned;
    size_t abandoned_count, abandoned_capacity;
    /* Frames submitted and not yet sent: written in one send when the client next waits for
     * an answer (or the queue passes 64 KiB), so a burst of submits costs one syscall. */
    uint8_t *out;
    size_t out_length, out_capacity;
    /* Bytes read and not yet decoded: buffer[start ..< start + buffered]. */
    uint8_t *buffer;
    size_t start, buffered, buffer_capacity;
};

static int fail(nnserve_client *client, int status, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(client->error, sizeof client->error, format, arguments);
    va_end(arguments);
    return status;
}

const char *nnserve_status_name(int status) {
    switch (status) {
    case NNSERVE_OK: return "OK";
    case NNSERVE_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case NNSERVE_ERR_NOT_FOUND: return "NOT_FOUND";
    case NNSERVE_ERR_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case NNSERVE_ERR_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case NNSERVE_ERR_UNAVAILABLE: return "UNAVAILABLE";
    case NNSERVE_ERR_INTERNAL: return "INTERNAL";
    case NNSERVE_ERR_IO: return "IO";
    case NNSERVE_ERR_TIMEOUT: return "TIMEOUT";
    case NNSERVE_ERR_PROTOCOL: return "PROTOCOL";
    case NNSERVE_ERR_NO_MEMORY: return "NO_MEMORY";
    case NNSERVE_ERR_USAGE: return "USAGE";
    default: return "UNKNOWN";
    }
}

const char *nnserve_last_error(const nnserve_client *client) { return client ? client->error : "no client"; }

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Sends every byte, or fails with NNSERVE_ERR_IO. */
static int send_all(nnserve_client *client, const uint8_t *bytes, size_t count) {
    int64_t deadline = now_ms() + client->timeout_ms;
    while (count > 0) {
        ssize_t sent = send(client->socket, bytes, count, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
            bytes += sent;
            count -= (size_t)sent;
            continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* The server is not reading (a full window): wait, within the timeout. */
            int64_t left = deadline - now_ms();
            /* Part of a frame may be on the wire: the stream cannot be resumed, so this is a
             * broken connection, not a timeout to retry on. */
            if (left <= 0) return fail(client, NNSERVE_ERR_IO, "could not send within %d ms (the server does not read); close the connection", client->timeout_ms);
            struct pollfd wait = {.fd = client->socket, .events = POLLOUT};
            if (poll(&wait, 1, (int)left) < 0 && errno != EINTR) return fail(client, NNSERVE_ERR_IO, "poll failed: %s", strerror(errno));
            continue;
        }
        return fail(client, NNSERVE_ERR_IO, "send failed: %s", strerror(errno));
    }
    return NNSERVE_OK;
}

int nnserve_connect(const char *host, int port, int timeout_ms, nnserve_client **out, char *error, size_t error_size) {
    if (out) *out = NULL;
    if (!host || !out || port <= 0 || port > 65535 || timeout_ms <= 0) {
        if (error && error_size) snprintf(error, error_size, "nnserve_connect: host, a port in 1...65535, a positive timeout and an out pointer are needed");
        return NNSERVE_ERR_USAGE;
    }
    nnserve_client *client = calloc(1, sizeof *client);
    if (!client) return NNSERVE_ERR_NO_MEMORY;
    client->timeout_ms = timeout_ms;
    client->next_id = 1;
    client->socket = -1;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {0}, *addresses = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int resolved = getaddrinfo(host, service, &hints, &addresses);
    if (resolved != 0) {
        if (error && error_size) snprintf(error, error_size, "cannot resolve %s: %s", host, gai_strerror(resolved));
        free(client);
        return NNSERVE_ERR_IO;
    }
    int saved = 0;
    int64_t deadline = now_ms() + timeout_ms;
    for (struct addrinfo *address = addresses; address && client->socket < 0; address = address->ai_next) {
        int fd = socket(address->ai_family, address->ai_socktype, address->ai_protocol);
        if (fd < 0) { saved = errno; continue; }
        /* Non-blocking from the start: connect within the timeout, and every later send and
         * receive waits through poll. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        int connected = connect(fd, address->ai_addr, address->ai_addrlen);
        if (connected != 0 && errno == EINPROGRESS) {
            struct pollfd wait = {.fd = fd, .events = POLLOUT};
            int64_t left = deadline - now_ms();
            int ready = left > 0 ? poll(&wait, 1, (int)left) : 0;
            int error = 0;
            socklen_t length = sizeof error;
            if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) {
                connected = 0;
            } else {
                errno = ready == 0 ? ETIMEDOUT : (error ? error : errno);
            }
        }
        if (connected == 0) {
            client->socket = fd;
        } else {
            saved = errno;
            close(fd);
        }
    }
    freeaddrinfo(addresses);
    if (client->socket < 0) {
        if (error && error_size) snprintf(error, error_size, "cannot connect to %s:%d: %s", host, port, strerror(saved));
        free(client);
        return NNSERVE_ERR_IO;
    }
    int on = 1;
    setsockopt(client->socket, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    const uint8_t preface[8] = {'N', 'N', 'S', 'P', 0, 0, 0, PROTOCOL_VERSION};
    int status = send_all(client, preface, sizeof preface);
    if (status != NNSERVE_OK) {
        if (error && error_size) snprintf(error, error_size, "%s", client->error);
        nnserve_close(client);
        return status;
    }
    *out = client;
    return NNSERVE_OK;
}

void nnserve_close(nnserve_client *client) {
    if (!client) return;
    if (client->socket >= 0) close(client->socket);
    for (size_t i = 0; i < client->pending_count; i++) nnserve__response__free_unpacked(client->pending[i].response, NULL);
    free(client->pending);
    free(client->abandoned);
    free(client->buffer);
    free(client->out);
    free(client);
}

int nnserve_flush(nnserve_client *client) {
    if (!client) return NNSERVE_ERR_USAGE;
    if (client->out_length == 0) return NNSERVE_OK;
    int status = send_all(client, client->out, client->out_length);
    client->out_length = 0;
    return status;
}

/* Queues one frame (length prefix, then the message) on the output buffer. */
static int send_request(nnserve_client *client, const Nnserve__Request *request) {
    size_t size = nnserve__request__get_packed_size(request);
    if (size > MAX_FRAME) return fail(client, NNSERVE_ERR_USAGE, "the request is %zu bytes; a frame holds at most %d", size, MAX_FRAME);
    if (client->out_length + size + 4 > client->out_capacity) {
        size_t capacity = client->out_capacity ? client->out_capacity : 65536;
        while (capacity < client->out_length + size + 4) capacity *= 2;
        uint8_t *grown = realloc(client->out, capacity);
        if (!grown) return fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for a %zu-byte frame", size + 4);
        client->out = grown;
        client->out_capacity = capacity;
    }
    uint8_t *frame = client->out + client->out_length;
    frame[0] = (uint8_t)(size >> 24);
    frame[1] = (uint8_t)(size >> 16);
    frame[2] = (uint8_t)(size >> 8);
    frame[3] = (uint8_t)size;
    nnserve__request__pack(request, frame + 4);
    client->out_length += size + 4;
    return client->out_length >= 65536 ? nnserve_flush(client) : NNSERVE_OK;
}

/* Reads until `count` bytes are buffered or the deadline passes. The socket is non-blocking:
 * recv first, and poll only when there is nothing to read yet (one syscall per read when
 * answers are flowing, as under load). */
static int fill(nnserve_client *client, size_t count, int64_t deadline) {
    if (client->start + count > client->buffer_capacity) {
        /* Move what is left to the front; grow only when a frame needs more. */
        memmove(client->buffer, client->buffer + client->start, client->buffered);
        client->start = 0;
        if (count > client->buffer_capacity) {
            size_t capacity = count < 65536 ? 65536 : count;
            uint8_t *grown = realloc(client->buffer, capacity);
            if (!grown) return fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for a %zu-byte buffer", capacity);
            client->buffer = grown;
            client->buffer_capacity = capacity;
        }
    }
    /* About to need the server's bytes: what was submitted goes out first. */
    if (client->buffered < count && client->out_length > 0) {
        int status = nnserve_flush(client);
        if (status != NNSERVE_OK) return status;
    }
    while (client->buffered < count) {
        uint8_t *end = client->buffer + client->start + client->buffered;
        ssize_t got = recv(client->socket, end, client->buffer_capacity - client->start - client->buffered, MSG_DONTWAIT);
        if (got > 0) {
            client->buffered += (size_t)got;
            continue;
        }
        if (got == 0) return fail(client, NNSERVE_ERR_IO, "nnserve closed the connection");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(client, NNSERVE_ERR_IO, "receive failed: %s", strerror(errno));
        int64_t left = deadline - now_ms();
        if (left <= 0) return fail(client, NNSERVE_ERR_TIMEOUT, "no answer within %d ms", client->timeout_ms);
        struct pollfd wait = {.fd = client->socket, .events = POLLIN};
        if (poll(&wait, 1, (int)left) < 0 && errno != EINTR) return fail(client, NNSERVE_ERR_IO, "poll failed: %s", strerror(errno));
    }
    return NNSERVE_OK;
}

/* The next whole frame, decoded; a partial frame stays buffered across a timeout. */
static int read_response(nnserve_client *client, int64_t deadline, Nnserve__Response **out) {
    int status = fill(client, 4, deadline);
    if (status != NNSERVE_OK) return status;
    const uint8_t *head = client->buffer + client->start;
    size_t length = (size_t)head[0] << 24 | (size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3];
    if (length > MAX_FRAME) return fail(client, NNSERVE_ERR_PROTOCOL, "a frame of %zu bytes is over the %d-byte limit", length, MAX_FRAME);
    status = fill(client, 4 + length, deadline);
    if (status != NNSERVE_OK) return status;
    *out = nnserve__response__unpack(NULL, length, client->buffer + client->start + 4);
    client->start += 4 + length;
    client->buffered -= 4 + length;
    if (client->buffered == 0) client->start = 0;
    if (!*out) return fail(client, NNSERVE_ERR_PROTOCOL, "an answer of %zu bytes does not decode", length);
    return NNSERVE_OK;
}

static int remember(nnserve_client *client, uint64_t id, Nnserve__Response *response) {
    if (client->pending_count == client->pending_capacity) {
        size_t capacity = client->pending_capacity ? client->pending_capacity * 2 : 16;
        pending_answer *grown = realloc(client->pending, capacity * sizeof *grown);
        if (!grown) return fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for pending answers");
        client->pending = grown;
        client->pending_capacity = capacity;
    }
    client->pending[client->pending_count++] = (pending_answer){id, response};
    return NNSERVE_OK;
}

static int abandoned_index(const nnserve_client *client, uint64_t id) {
    for (size_t i = 0; i < client->abandoned_count; i++)
        if (client->abandoned[i] == id) return (int)i;
    return -1;
}

static void abandon(nnserve_client *client, uint64_t id) {
    if (client->abandoned_count == client->abandoned_capacity) {
        size_t capacity = client->abandoned_capacity ? client->abandoned_capacity * 2 : 16;
        uint64_t *grown = realloc(client->abandoned, capacity * sizeof *grown);
        if (!grown) return; /* the late answer will then wait in `pending` until close */
        client->abandoned = grown;
        client->abandoned_capacity = capacity;
    }
    client->abandoned[client->abandoned_count++] = id;
}

/* Waits until `deadline` for the answer to `id`, or with `id` 0 for the next answer to any id
 * (kept answers first). An error answer becomes its code and message; *answered_id says whose
 * it was. */
static int next_answer(nnserve_client *client, uint64_t id, int64_t deadline, Nnserve__Response **out, uint64_t *answered_id) {
    for (;;) {
        for (size_t i = 0; i < client->pending_count; i++) {
            if (id != 0 && client->pending[i].id != id) continue;
            *out = client->pending[i].response;
            client->pending[i] = client->pending[--client->pending_count];
            goto answered;
        }
        Nnserve__Response *response = NULL;
        int status = read_response(client, deadline, &response);
        if (status == NNSERVE_ERR_TIMEOUT && id != 0) abandon(client, id);
        if (status != NNSERVE_OK) return status;
        int late = abandoned_index(client, response->id);
        if (late >= 0) {
            client->abandoned[late] = client->abandoned[--client->abandoned_count];
            nnserve__response__free_unpacked(response, NULL);
            continue;
        }
        if (response->id == 0 && response->kind_case == NNSERVE__RESPONSE__KIND_ERROR) {
            /* About the connection itself: an undecodable frame, an idle timeout. */
            int code = fail(client, NNSERVE_ERR_PROTOCOL, "the server ended the connection: %s", response->error->message);
            nnserve__response__free_unpacked(response, NULL);
            return code;
        }
        if (id == 0 || response->id == id) {
            *out = response;
            goto answered;
        }
        status = remember(client, response->id, response);
        if (status != NNSERVE_OK) {
            nnserve__response__free_unpacked(response, NULL);
            return status;
        }
    }
answered:
    *answered_id = (*out)->id;
    if ((*out)->kind_case == NNSERVE__RESPONSE__KIND_ERROR) {
        int code = (int)(*out)->error->code;
        if (code < NNSERVE_ERR_INVALID_ARGUMENT || code > NNSERVE_ERR_INTERNAL) code = NNSERVE_ERR_INTERNAL;
        fail(client, code, "%s", (*out)->error->message);
        nnserve__response__free_unpacked(*out, NULL);
        *out = NULL;
        return code;
    }
    return NNSERVE_OK;
}

static int wait_for(nnserve_client *client, uint64_t id, Nnserve__Response **out) {
    uint64_t answered = 0;
    return next_answer(client, id, now_ms() + client->timeout_ms, out, &answered);
}

int nnserve_submit(nnserve_client *client, const char *model, int64_t version, const nnserve_input *inputs, size_t input_count,
                   int64_t timeout_micros, uint64_t *request_id) {
    if (!client) return NNSERVE_ERR_USAGE;
    if (!model || !request_id || (input_count > 0 && !inputs)) return fail(client, NNSERVE_ERR_USAGE, "nnserve_submit: model, inputs and request_id are needed");
    Nnserve__InputTensor *tensors = calloc(input_count ? input_count : 1, sizeof *tensors);
    Nnserve__InputTensor **pointers = calloc(input_count ? input_count : 1, sizeof *pointers);
    int64_t *shapes = calloc(input_count ? 2 * input_count : 1, sizeof *shapes);
    /* A raw column's strings with its gaps (NULL) as "": protobuf-c packs no NULL string. */
    char ***texts = calloc(input_count ? input_count : 1, sizeof *texts);
    if (!tensors || !pointers || !shapes || !texts) {
        free(tensors), free(pointers), free(shapes), free(texts);
        return fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for %zu inputs", input_count);
    }
    int status = NNSERVE_OK;
    for (size_t i = 0; i < input_count; i++) {
        if (!inputs[i].name || inputs[i].rows < 0 || inputs[i].width < 0 ||
            (inputs[i].width > 0 && inputs[i].rows > (int64_t)(MAX_FRAME / 4) / inputs[i].width)) {
            status = fail(client, NNSERVE_ERR_USAGE, "input %zu needs a name and non-negative rows and width whose product fits a frame", i);
            break;
        }
        if (inputs[i].text && (inputs[i].width != 1 || inputs[i].data)) {
            status = fail(client, NNSERVE_ERR_USAGE, "input '%s' has text: it is a raw column, of width 1 and no data", inputs[i].name);
            break;
        }
        if (inputs[i].rows * inputs[i].width > 0 && !inputs[i].data && !inputs[i].text) {
            status = fail(client, NNSERVE_ERR_USAGE, "input '%s' has no data", inputs[i].name);
            break;
        }
        nnserve__input_tensor__init(&tensors[i]);
        tensors[i].name = (char *)inputs[i].name;
        shapes[2 * i] = inputs[i].rows;
        shapes[2 * i + 1] = inputs[i].width;
        tensors[i].n_shape = 2;
        tensors[i].shape = &shapes[2 * i];
        if (inputs[i].text) {
            texts[i] = calloc(inputs[i].rows ? (size_t)inputs[i].rows : 1, sizeof *texts[i]);
            if (!texts[i]) {
                status = fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for input '%s'", inputs[i].name);
                break;
            }
            for (int64_t row = 0; row < inputs[i].rows; row++) texts[i][row] = (char *)(inputs[i].text[row] ? inputs[i].text[row] : "");
            tensors[i].n_text = (size_t)inputs[i].rows;
            tensors[i].text = texts[i];
        } else {
            tensors[i].n_data = (size_t)(inputs[i].rows * inputs[i].width);
            tensors[i].data = (float *)inputs[i].data;
        }
        pointers[i] = &tensors[i];
    }
    if (status == NNSERVE_OK) {
        Nnserve__PredictRequest predict = NNSERVE__PREDICT_REQUEST__INIT;
        predict.model = (char *)model;
        predict.version = version;
        predict.n_inputs = input_count;
        predict.inputs = pointers;
        predict.timeout_micros = timeout_micros;
        Nnserve__Request request = NNSERVE__REQUEST__INIT;
        request.id = client->next_id++;
        request.kind_case = NNSERVE__REQUEST__KIND_PREDICT;
        request.predict = &predict;
        status = send_request(client, &request);
        if (status == NNSERVE_OK) *request_id = request.id;
    }
    for (size_t i = 0; i < input_count; i++) free(texts[i]);
    free(tensors), free(pointers), free(shapes), free(texts);
    return status;
}

/* The outputs of a prediction answer, copied for the caller; frees the answer. */
static int take_result(nnserve_client *client, Nnserve__Response *response, nnserve_result *result) {
    if (response->kind_case != NNSERVE__RESPONSE__KIND_PREDICT) {
        unsigned long long id = (unsigned long long)response->id;
        nnserve__response__free_unpacked(response, NULL);
        return fail(client, NNSERVE_ERR_PROTOCOL, "the answer to request %llu is not a prediction", id);
    }
    int status = NNSERVE_OK;
    Nnserve__PredictResponse *predict = response->predict;
    result->outputs = calloc(predict->n_outputs ? predict->n_outputs : 1, sizeof *result->outputs);
    if (!result->outputs) status = fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for %zu outputs", predict->n_outputs);
    for (size_t i = 0; status == NNSERVE_OK && i < predict->n_outputs; i++) {
        Nnserve__OutputTensor *tensor = predict->outputs[i];
        nnserve_output *output = &result->outputs[result->count++];
        output->rows = tensor->n_shape > 0 ? tensor->shape[0] : 0;
        output->width = tensor->n_shape > 1 ? tensor->shape[1] : 1;
        /* Checked before any multiplication: a hostile answer must not make rows × width
         * overflow or disagree with the values it carries. */
        if (output->rows < 0 || output->width < 0 || (output->width > 0 && (uint64_t)output->rows > tensor->n_data / (uint64_t)output->width) ||
            (size_t)output->rows * (size_t)output->width != tensor->n_data) {
            status = fail(client, NNSERVE_ERR_PROTOCOL, "output '%s' has %zu values for shape [%lld, %lld]", tensor->name, tensor->n_data,
                          (long long)output->rows, (long long)output->width);
            output->name = NULL;
            output->data = NULL;
            break;
        }
        output->name = strdup(tensor->name);
        output->data = malloc((tensor->n_data ? tensor->n_data : 1) * sizeof(float));
        if (!output->name || !output->data) {
            status = fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for output '%s'", tensor->name);
            break;
        }
        memcpy(output->data, tensor->data, tensor->n_data * sizeof(float));
    }
    nnserve__response__free_unpacked(response, NULL);
    if (status != NNSERVE_OK) nnserve_result_free(result);
    return status;
}

int nnserve_receive(nnserve_client *client, uint64_t request_id, nnserve_result *result) {
    if (!client) return NNSERVE_ERR_USAGE;
    if (!result || request_id == 0 || request_id >= client->next_id) return fail(client, NNSERVE_ERR_USAGE, "nnserve_receive: %llu is not an id this client sent", (unsigned long long)request_id);
    memset(result, 0, sizeof *result);
    Nnserve__Response *response = NULL;
    int status = wait_for(client, request_id, &response);
    return status == NNSERVE_OK ? take_result(client, response, result) : status;
}

int nnserve_receive_any(nnserve_client *client, int timeout_ms, uint64_t *request_id, nnserve_result *result) {
    if (!client) return NNSERVE_ERR_USAGE;
    if (!result || !request_id || timeout_ms < 0) return fail(client, NNSERVE_ERR_USAGE, "nnserve_receive_any: a result, a request_id and a timeout of 0 or more are needed");
    memset(result, 0, sizeof *result);
    *request_id = 0;
    Nnserve__Response *response = NULL;
    int status = next_answer(client, 0, now_ms() + timeout_ms, &response, request_id);
    return status == NNSERVE_OK ? take_result(client, response, result) : status;
}

int nnserve_socket(const nnserve_client *client) { return client ? client->socket : -1; }

int nnserve_predict(nnserve_client *client, const char *model, const nnserve_input *inputs, size_t input_count, nnserve_result *result) {
    uint64_t id = 0;
    int status = nnserve_submit(client, model, 0, inputs, input_count, 0, &id);
    return status == NNSERVE_OK ? nnserve_receive(client, id, result) : status;
}

void nnserve_result_free(nnserve_result *result) {
    if (!result) return;
    for (size_t i = 0; i < result->count; i++) {
        free(result->outputs[i].name);
        free(result->outputs[i].data);
    }
    free(result->outputs);
    result->outputs = NULL;
    result->count = 0;
}

static int copy_infos(Nnserve__TensorInfo **from, size_t count, nnserve_tensor_info **to) {
    *to = calloc(count ? count : 1, sizeof **to);
    if (!*to) return -1;
    for (size_t i = 0; i < count; i++) {
        (*to)[i].width = from[i]->width;
        if (!((*to)[i].name = strdup(from[i]->name))) return -1;
    }
    return 0;
}

int nnserve_get_metadata(nnserve_client *client, const char *model, nnserve_metadata *metadata) {
    if (!client) return NNSERVE_ERR_USAGE;
    if (!model || !metadata) return fail(client, NNSERVE_ERR_USAGE, "nnserve_get_metadata: model and metadata are needed");
    memset(metadata, 0, sizeof *metadata);
    Nnserve__MetadataRequest ask = NNSERVE__METADATA_REQUEST__INIT;
    ask.model = (char *)model;
    Nnserve__Request request = NNSERVE__REQUEST__INIT;
    request.id = client->next_id++;
    request.kind_case = NNSERVE__REQUEST__KIND_METADATA;
    request.metadata = &ask;
    int status = send_request(client, &request);
    Nnserve__Response *response = NULL;
    if (status == NNSERVE_OK) status = wait_for(client, request.id, &response);
    if (status != NNSERVE_OK) return status;
    if (response->kind_case != NNSERVE__RESPONSE__KIND_METADATA) {
        nnserve__response__free_unpacked(response, NULL);
        return fail(client, NNSERVE_ERR_PROTOCOL, "the answer to a metadata request is not metadata");
    }
    Nnserve__MetadataResponse *answer = response->metadata;
    metadata->model = strdup(answer->model);
    metadata->versions = calloc(answer->n_versions ? answer->n_versions : 1, sizeof *metadata->versions);
    metadata->version_count = answer->n_versions;
    metadata->max_batch_size = answer->max_batch_size;
    metadata->input_count = answer->n_inputs;
    metadata->output_count = answer->n_outputs;
    int failed = !metadata->model || !metadata->versions || copy_infos(answer->inputs, answer->n_inputs, &metadata->inputs) != 0 ||
                 copy_infos(answer->outputs, answer->n_outputs, &metadata->outputs) != 0;
    if (!failed) memcpy(metadata->versions, answer->versions, answer->n_versions * sizeof *metadata->versions);
    nnserve__response__free_unpacked(response, NULL);
    if (failed) {
        nnserve_metadata_free(metadata);
        return fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for the metadata of '%s'", model);
    }
    return NNSERVE_OK;
}

void nnserve_metadata_free(nnserve_metadata *metadata) {
    if (!metadata) return;
    for (size_t i = 0; metadata->inputs && i < metadata->input_count; i++) free(metadata->inputs[i].name);
    for (size_t i = 0; metadata->outputs && i < metadata->output_count; i++) free(metadata->outputs[i].name);
    free(metadata->inputs);
    free(metadata->outputs);
    free(metadata->versions);
    free(metadata->model);
    memset(metadata, 0, sizeof *metadata);
}

int nnserve_list_models(nnserve_client *client, char ***names, size_t *count) {
    if (!client) return NNSERVE_ERR_USAGE;
    if (!names || !count) return fail(client, NNSERVE_ERR_USAGE, "nnserve_list_models: names and count are needed");
    *names = NULL;
    *count = 0;
    Nnserve__ListModelsRequest ask = NNSERVE__LIST_MODELS_REQUEST__INIT;
    Nnserve__Request request = NNSERVE__REQUEST__INIT;
    request.id = client->next_id++;
    request.kind_case = NNSERVE__REQUEST__KIND_LIST_MODELS;
    request.list_models = &ask;
    int status = send_request(client, &request);
    Nnserve__Response *response = NULL;
    if (status == NNSERVE_OK) status = wait_for(client, request.id, &response);
    if (status != NNSERVE_OK) return status;
    if (response->kind_case != NNSERVE__RESPONSE__KIND_LIST_MODELS) {
        nnserve__response__free_unpacked(response, NULL);
        return fail(client, NNSERVE_ERR_PROTOCOL, "the answer to a model list request is not a model list");
    }
    size_t n = response->list_models->n_models;
    *names = calloc(n ? n : 1, sizeof **names);
    int failed = !*names;
    for (size_t i = 0; !failed && i < n; i++) {
        if (!((*names)[i] = strdup(response->list_models->models[i]->name))) failed = 1;
        else *count = i + 1;
    }
    nnserve__response__free_unpacked(response, NULL);
    if (failed) {
        nnserve_models_free(*names, *count);
        *names = NULL;
        *count = 0;
        return fail(client, NNSERVE_ERR_NO_MEMORY, "no memory for the model list");
    }
    return NNSERVE_OK;
}

void nnserve_models_free(char **names, size_t count) {
    for (size_t i = 0; names && i < count; i++) free(names[i]);
    free(names);
}
