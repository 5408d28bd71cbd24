/*
 * action_link.c - signed, expiring one-click action links; see action_link.h.
 *
 * A token is two base64url parts (no padding) joined by a dot:
 *
 *   payload  = version (1) | incident_id (8, big-endian) | expires (8, BE)
 *              | nonce (8, BE) | action code (1) | user length (1) | user
 *   token    = b64url(payload) "." b64url(HMAC-SHA256(key, payload))
 *
 * Binary fields instead of JSON keep the longest token (a 64-byte user) at
 * 166 characters, well inside ACTION_LINK_MAX and short enough for an SMS.
 * The signature is checked before any field is interpreted, and with a
 * constant-time compare, so a forger learns nothing from timing and the field
 * parser only ever sees bytes we signed ourselves.
 */
#include "action_link.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

#define ACTION_LINK_VERSION  1
#define ACTION_LINK_FIXED    27 /* payload bytes before the user name */
#define ACTION_LINK_USER_MAX 64
#define ACTION_LINK_PAYLOAD  (ACTION_LINK_FIXED + ACTION_LINK_USER_MAX)
#define ACTION_LINK_SIG      crypto_auth_hmacsha256_BYTES

/* Separates the link key from any other use of the same configured secret. */
static const char action_link_domain[] = "tocsin action link key v1";

enum action_link_code { ACTION_LINK_ACK = 1, ACTION_LINK_RESOLVE = 2 };

static int action_link_code_of(const char *action)
{
    if (strcmp(action, "ack") == 0)
        return ACTION_LINK_ACK;
    if (strcmp(action, "resolve") == 0)
        return ACTION_LINK_RESOLVE;
    return -1;
}

/* User names as the configuration allows them ([A-Za-z0-9._@-]), plus '+',
 * which e-mail style names use; nothing that needs escaping in a URL. */
static bool action_link_user_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '@' || c == '-' || c == '+';
}

static void action_link_put64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t action_link_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void action_link_mac(const unsigned char key[ACTION_LINK_KEY_BYTES],
                            const unsigned char *payload, size_t len,
                            unsigned char mac[ACTION_LINK_SIG])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, ACTION_LINK_KEY_BYTES);
    crypto_auth_hmacsha256_update(&st, payload, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

void action_link_key(const char *secret, unsigned char key[ACTION_LINK_KEY_BYTES])
{
    /* HMAC keyed with a fixed domain string over the secret: any secret
     * length works, and the derived key differs from the secret itself, so a
     * webhook signature made with the same secret cannot double as a link. */
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)action_link_domain,
                                sizeof(action_link_domain) - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)(secret ? secret : ""),
                                  secret ? strlen(secret) : 0);
    crypto_auth_hmacsha256_final(&st, key);
    sodium_memzero(&st, sizeof(st));
}

int action_link_make(const unsigned char key[ACTION_LINK_KEY_BYTES], const struct action_link *l,
                     char *out, size_t outlen)
{
    int code = action_link_code_of(l->action);
    size_t ulen = strnlen(l->user, sizeof(l->user));
    if (code < 0 || ulen > ACTION_LINK_USER_MAX)
        return -1;
    for (size_t i = 0; i < ulen; i++)
        if (!action_link_user_char((unsigned char)l->user[i]))
            return -1;

    unsigned char payload[ACTION_LINK_PAYLOAD];
    size_t plen = ACTION_LINK_FIXED + ulen;
    payload[0] = ACTION_LINK_VERSION;
    action_link_put64(payload + 1, (uint64_t)l->incident_id);
    action_link_put64(payload + 9, (uint64_t)l->expires);
    action_link_put64(payload + 17, l->nonce);
    payload[25] = (unsigned char)code;
    payload[26] = (unsigned char)ulen;
    memcpy(payload + ACTION_LINK_FIXED, l->user, ulen);

    unsigned char mac[ACTION_LINK_SIG];
    action_link_mac(key, payload, plen, mac);

    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    /* sodium_base64_ENCODED_LEN counts the terminating NUL. */
    size_t p64 = sodium_base64_ENCODED_LEN(plen, variant);
    size_t s64 = sodium_base64_ENCODED_LEN(ACTION_LINK_SIG, variant);
    if (outlen < p64 + s64) /* (p64 - 1) + '.' + (s64 - 1) + NUL */
        return -1;
    sodium_bin2base64(out, p64, payload, plen, variant);
    out[p64 - 1] = '.';
    sodium_bin2base64(out + p64, s64, mac, sizeof(mac), variant);
    return 0;
}

/* Decodes exactly len base64url characters into at most cap bytes. */
static int action_link_decode(const char *s, size_t len, unsigned char *bin, size_t cap,
                              size_t *out_len)
{
    const char *end = NULL;
    if (len == 0)
        return -1;
    /* libsodium's decoder takes some bytes with the high bit set for their
     * ASCII counterparts; checking the alphabet first keeps one token per
     * payload, so a link cannot be varied while still verifying. */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return -1;
    }
    if (sodium_base642bin(bin, cap, s, len, NULL, out_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    return end == s + len ? 0 : -1;
}

int action_link_verify(const unsigned char key[ACTION_LINK_KEY_BYTES], const char *token,
                       int64_t now, struct action_link *l)
{
    if (!token)
        return -1;
    /* strnlen: a token longer than any we make is refused without reading
     * past ACTION_LINK_MAX bytes of it. */
    size_t len = strnlen(token, ACTION_LINK_MAX);
    if (len >= ACTION_LINK_MAX)
        return -1;
    const char *dot = memchr(token, '.', len);
    if (!dot)
        return -1;
    size_t p64 = (size_t)(dot - token), s64 = len - p64 - 1;

    unsigned char payload[ACTION_LINK_PAYLOAD], sig[ACTION_LINK_SIG + 1];
    size_t plen, slen;
    if (action_link_decode(token, p64, payload, sizeof(payload), &plen) != 0 ||
        action_link_decode(dot + 1, s64, sig, sizeof(sig), &slen) != 0)
        return -1;
    if (slen != ACTION_LINK_SIG || plen < ACTION_LINK_FIXED)
        return -1;

    unsigned char mac[ACTION_LINK_SIG];
    action_link_mac(key, payload, plen, mac);
    if (sodium_memcmp(mac, sig, ACTION_LINK_SIG) != 0)
        return -1;

    /* Signed by us, but still checked: a key shared with a newer version
     * might sign a layout this one does not know. */
    size_t ulen = payload[26];
    if (payload[0] != ACTION_LINK_VERSION || ulen > ACTION_LINK_USER_MAX ||
        plen != ACTION_LINK_FIXED + ulen)
        return -1;
    for (size_t i = 0; i < ulen; i++)
        if (!action_link_user_char(payload[ACTION_LINK_FIXED + i]))
            return -1;
    const char *action;
    switch (payload[25]) {
    case ACTION_LINK_ACK:
        action = "ack";
        break;
    case ACTION_LINK_RESOLVE:
        action = "resolve";
        break;
    default:
        return -1;
    }

    memset(l, 0, sizeof(*l));
    l->incident_id = (int64_t)action_link_get64(payload + 1);
    l->expires = (int64_t)action_link_get64(payload + 9);
    l->nonce = action_link_get64(payload + 17);
    strcpy(l->action, action);
    memcpy(l->user, payload + ACTION_LINK_FIXED, ulen);
    l->user[ulen] = '\0';
    return now >= l->expires ? -2 : 0;
}
