/*
 * cli_http.c - response bodies of the API clients.
 */
#include "cli_http.h"

#include <stdlib.h>
#include <string.h>

size_t cli_response_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct cli_response *r = userp;
    size_t n = size * nmemb;
    if (r->len + n > r->max) {
        r->too_big = true;
        return 0; /* makes curl fail the transfer */
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (!nb)
            return 0;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = 0;
    return n;
}
