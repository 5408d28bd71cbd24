/*
 * fuzz_action_link.c - libFuzzer target for action link tokens, which come
 * straight from URLs anyone can type. An input starting with 'T' is a token
 * for action_link_verify (the rest, NUL-terminated); anything else is read as
 * the fields of a link to make and verify again. Besides memory errors it
 * checks the promises callers rely on: a token that verifies names a known
 * action and a well-formed user, and is the only spelling of its fields
 * (making the link again gives the same token, so a link cannot be varied
 * and still work); a link that was made verifies to the same fields.
 */
#include "notify/action_link.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char fuzz_key[ACTION_LINK_KEY_BYTES];
static int fuzz_key_ready;

static void check_fields(const struct action_link *l)
{
    if (strcmp(l->action, "ack") != 0 && strcmp(l->action, "resolve") != 0)
        abort();
    if (strnlen(l->user, sizeof(l->user)) > 64)
        abort();
}

static void fuzz_verify(const uint8_t *data, size_t size)
{
    char *tok = malloc(size + 1);
    if (!tok)
        return;
    memcpy(tok, data, size);
    tok[size] = '\0';
    struct action_link l;
    int rc = action_link_verify(fuzz_key, tok, 0, &l);
    if (rc != 0 && rc != -1 && rc != -2)
        abort();
    if (rc != -1) {
        check_fields(&l);
        char again[ACTION_LINK_MAX];
        if (action_link_make(fuzz_key, &l, again, sizeof(again)) != 0 || strcmp(again, tok) != 0)
            abort();
    }
    free(tok);
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void fuzz_make(const uint8_t *data, size_t size)
{
    if (size < 25)
        return;
    struct action_link l = {.incident_id = (int64_t)get64(data),
                            .expires = (int64_t)get64(data + 8),
                            .nonce = get64(data + 16)};
    strcpy(l.action, data[24] & 1 ? "resolve" : "ack");
    size_t ulen = size - 25 < sizeof(l.user) - 1 ? size - 25 : sizeof(l.user) - 1;
    memcpy(l.user, data + 25, ulen);
    l.user[ulen] = '\0';
    char tok[ACTION_LINK_MAX];
    if (action_link_make(fuzz_key, &l, tok, sizeof(tok)) != 0)
        return; /* a user with characters links do not carry */
    struct action_link got;
    int rc = action_link_verify(fuzz_key, tok, l.expires, &got);
    if (rc != -2 || got.incident_id != l.incident_id || got.expires != l.expires ||
        got.nonce != l.nonce || strcmp(got.action, l.action) != 0 || strcmp(got.user, l.user) != 0)
        abort();
    if (l.expires != INT64_MIN && action_link_verify(fuzz_key, tok, l.expires - 1, &got) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_key_ready) {
        action_link_key("fuzz secret", fuzz_key);
        fuzz_key_ready = 1;
    }
    if (size > 0 && data[0] == 'T')
        fuzz_verify(data + 1, size - 1);
    else
        fuzz_make(data, size);
    return 0;
}
