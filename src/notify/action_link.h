/*
 * action_link.h - signed, expiring one-click links to acknowledge or resolve
 * an incident from a notification, without logging in.
 *
 * A token carries the incident, the action, the user the message went to,
 * when it expires and a random nonce, and is signed with HMAC-SHA256 under
 * the server's key. The engine records used nonces so each link works once.
 */
#ifndef TOCSIN_ACTION_LINK_H
#define TOCSIN_ACTION_LINK_H

#include <stddef.h>
#include <stdint.h>

#define ACTION_LINK_KEY_BYTES 32
#define ACTION_LINK_MAX       256 /* longest token, NUL included */

struct action_link {
    int64_t incident_id;
    char action[16]; /* "ack" or "resolve" */
    char user[65];   /* who the link was sent to: 0..64 of [A-Za-z0-9._@+-] */
    int64_t expires; /* UTC ms; the link is expired from this instant on */
    uint64_t nonce;  /* random, chosen by the caller; the single-use key */
};

/* Derives the signing key from the configured secret (any length). */
void action_link_key(const char *secret, unsigned char key[ACTION_LINK_KEY_BYTES]);

/* Writes the URL-safe token (base64url, no padding, at most 166 characters)
 * into out. Returns 0, or -1 when out is too small or a field is invalid
 * (action, user too long or with other characters). */
int action_link_make(const unsigned char key[ACTION_LINK_KEY_BYTES], const struct action_link *l,
                     char *out, size_t outlen);

/* Checks a token from a URL. Returns 0 when valid (l filled), -1 when
 * malformed or the signature does not match, -2 when it expired (l filled). */
int action_link_verify(const unsigned char key[ACTION_LINK_KEY_BYTES], const char *token,
                       int64_t now, struct action_link *l);

#endif
