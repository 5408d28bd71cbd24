/*
 * auth.c - who is calling: API tokens for /api/v1 and integration keys for
 * intake. Secrets are compared in constant time by the config look-ups.
 */
#include "api.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Extracts the credential after "Bearer " or the password of "Basic ...". */
static bool authorization_secret(const char *h, char *buf, size_t size)
{
    if (!h)
        return false;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ')
            h++;
        size_t n = strcspn(h, " \t");
        if (n == 0 || n >= size)
            return false;
        memcpy(buf, h, n);
        buf[n] = 0;
        return true;
    }
    if (strncasecmp(h, "Basic ", 6) == 0) {
        unsigned char dec[512];
        size_t dlen = 0;
        h += 6;
        while (*h == ' ')
            h++;
        if (sodium_base642bin(dec, sizeof(dec) - 1, h, strlen(h), " \t", &dlen, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            return false;
        dec[dlen] = 0;
        /* user:password - the key is the password (Prometheus basic_auth). */
        char *colon = memchr(dec, ':', dlen);
        const char *pw = colon ? colon + 1 : (const char *)dec;
        size_t n = strlen(pw);
        if (n == 0 || n >= size)
            return false;
        memcpy(buf, pw, n + 1);
        return true;
    }
    return false;
}

bool auth_request_key(struct http_req *req, char *buf, size_t size)
{
    const char *k = http_header(req, "X-Tocsin-Key");
    if (k && *k && strlen(k) < size) {
        snprintf(buf, size, "%s", k);
        return true;
    }
    return authorization_secret(http_header(req, "Authorization"), buf, size);
}

const struct cfg_token *auth_api(struct http_req *req, enum role need)
{
    char secret[512];
    const struct cfg_token *t;

    if (!authorization_secret(http_header(req, "Authorization"), secret, sizeof(secret))) {
        req->www_auth = "Bearer realm=\"tocsin\"";
        http_reply_error(req, 401, "missing_credentials", NULL,
                         "this endpoint needs an API token: Authorization: Bearer <token>");
        return NULL;
    }
    t = config_find_token(req->cfg, secret);
    sodium_memzero(secret, sizeof(secret));
    if (!t) {
        req->www_auth = "Bearer realm=\"tocsin\", error=\"invalid_token\"";
        http_reply_error(req, 401, "unknown_token", NULL, "the API token is not known");
        return NULL;
    }
    if (t->role < need) {
        http_reply_error(req, 403, "forbidden", NULL,
                         "token \"%s\" has role %s; this needs %s or higher", t->name,
                         role_name(t->role), role_name(need));
        return NULL;
    }
    return t;
}
