/*
 * cli_http.h - what the API clients (`tocsin oncall`, `tocsin rules test`)
 * share: collecting a response body from libcurl within a bound.
 */
#ifndef TOCSIN_CLI_HTTP_H
#define TOCSIN_CLI_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* A response body being received. Zero-initialise and set max. */
struct cli_response {
    char *buf; /* owned (free with free); NUL-terminated; NULL before any byte */
    size_t len, cap;
    size_t max; /* bodies longer than this fail the transfer (too_big) */
    bool too_big;
};

/*
 * CURLOPT_WRITEFUNCTION callback with userp = a struct cli_response.
 * Returns the bytes taken; less (which makes libcurl fail the transfer)
 * when the body would exceed max or memory runs out.
 */
size_t cli_response_write(char *data, size_t size, size_t nmemb, void *userp);

#endif
