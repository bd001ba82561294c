/*
 * predict HOST PORT MODEL ROWS.csv — the predictions of a single-input model for the rows of a
 * CSV file with a header: each row's first <input width> columns are the features (extra
 * columns, such as the target, are ignored). Prints one CSV line per row, the outputs in order.
 * A file of any length is sent in requests of the model's max_batch_size rows (what it runs at
 * once; the server refuses requests over --max-rows-per-request), one after another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnserve.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT MODEL ROWS.csv\n", argv[0]);
        return 2;
    }
    nnserve_client *client = NULL;
    char error[256];
    if (nnserve_connect(argv[1], atoi(argv[2]), 10000, &client, error, sizeof error) != NNSERVE_OK) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    nnserve_metadata metadata;
    int status = nnserve_get_metadata(client, argv[3], &metadata);
    if (status != NNSERVE_OK || metadata.input_count != 1) {
        fprintf(stderr, "%s\n", status != NNSERVE_OK ? nnserve_last_error(client) : "predict reads rows for single-input models");
        if (status == NNSERVE_OK) nnserve_metadata_free(&metadata);
        nnserve_close(client);
        return 1;
    }
    int64_t width = metadata.inputs[0].width;
    FILE *file = fopen(argv[4], "r");
    if (!file) {
        perror(argv[4]);
        return 1;
    }
    char line[65536];
    float *rows = NULL;
    int64_t count = 0;
    if (!fgets(line, sizeof line, file)) count = 0; /* the header */
    while (fgets(line, sizeof line, file)) {
        float *grown = realloc(rows, (size_t)((count + 1) * width) * sizeof *rows);
        if (!grown) return 1;
        rows = grown;
        char *cursor = line;
        for (int64_t column = 0; column < width; column++) {
            char *end = NULL;
            rows[count * width + column] = strtof(cursor, &end);
            if (end == cursor) {
                fprintf(stderr, "%s: row %lld has fewer than %lld numbers\n", argv[4], (long long)count + 1, (long long)width);
                return 1;
            }
            cursor = *end == ',' ? end + 1 : end;
        }
        count++;
    }
    fclose(file);
    int64_t chunk = metadata.max_batch_size > 0 ? metadata.max_batch_size : 256;
    for (int64_t first_row = 0; first_row < count; first_row += chunk) {
        int64_t rows_now = count - first_row < chunk ? count - first_row : chunk;
        nnserve_input input = {metadata.inputs[0].name, rows + first_row * width, rows_now, width};
        nnserve_result result;
        status = nnserve_predict(client, argv[3], &input, 1, &result);
        if (status != NNSERVE_OK) {
            fprintf(stderr, "%s: %s\n", nnserve_status_name(status), nnserve_last_error(client));
            nnserve_metadata_free(&metadata);
            nnserve_close(client);
            return 1;
        }
        for (size_t o = 0; o < result.count; o++) {
            if (result.outputs[o].rows != rows_now) {
                fprintf(stderr, "output '%s' has %lld rows for %lld asked\n", result.outputs[o].name, (long long)result.outputs[o].rows, (long long)rows_now);
                return 1;
            }
        }
        for (int64_t row = 0; row < rows_now; row++) {
            int first = 1;
            for (size_t o = 0; o < result.count; o++) {
                for (int64_t v = 0; v < result.outputs[o].width; v++) {
                    printf("%s%.9g", first ? "" : ",", result.outputs[o].data[row * result.outputs[o].width + v]);
                    first = 0;
                }
            }
            printf("\n");
        }
        nnserve_result_free(&result);
    }
    nnserve_metadata_free(&metadata);
    free(rows);
    nnserve_close(client);
    return 0;
}
