/*
 * matcher.c - label matchers. The regular expression is wrapped as
 * ^(?:...)$ would be in RE2; POSIX has no non-capturing group, so a plain
 * group does the anchoring.
 */
#include "matcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int matcher_compile(struct matcher *m, char *err, size_t errlen)
{
    if (m->op != MATCH_RE && m->op != MATCH_NRE)
        return 0;
    size_t len = strlen(m->value);
    char *anchored = malloc(len + 5);
    if (!anchored) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(anchored, len + 5, "^(%s)$", m->value);
    int rc = regcomp(&m->re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &m->re, msg, sizeof(msg));
        snprintf(err, errlen, "invalid regular expression \"%.128s\": %s", m->value, msg);
        return -1;
    }
    m->has_re = true;
    return 0;
}

int matcher_init(struct matcher *m, const char *name, enum matcher_op op, const char *value,
                 char *err, size_t errlen)
{
    memset(m, 0, sizeof(*m));
    m->name = strdup(name);
    m->value = strdup(value);
    m->op = op;
    if (!m->name || !m->value) {
        snprintf(err, errlen, "out of memory");
        matcher_free(m);
        return -1;
    }
    if (matcher_compile(m, err, errlen) != 0) {
        matcher_free(m);
        return -1;
    }
    return 0;
}

void matcher_free(struct matcher *m)
{
    if (m->has_re)
        regfree(&m->re);
    free(m->name);
    free(m->value);
    memset(m, 0, sizeof(*m));
}

bool matcher_matches(const struct matcher *m, const char *value)
{
    if (!value)
        value = "";
    switch (m->op) {
    case MATCH_EQ:
        return strcmp(value, m->value) == 0;
    case MATCH_NEQ:
        return strcmp(value, m->value) != 0;
    case MATCH_RE:
        return regexec(&m->re, value, 0, NULL, 0) == 0;
    case MATCH_NRE:
        return regexec(&m->re, value, 0, NULL, 0) != 0;
    }
    return false;
}

bool matcher_match_labels(const struct matcher *m, size_t n, const struct labelset *ls)
{
    for (size_t i = 0; i < n; i++)
        if (!matcher_matches(&m[i], labels_get(ls, m[i].name)))
            return false;
    return true;
}

bool matcher_matches_empty(const struct matcher *m)
{
    return matcher_matches(m, "");
}

const char *matcher_op_str(enum matcher_op op)
{
    switch (op) {
    case MATCH_EQ:
        return "=";
    case MATCH_NEQ:
        return "!=";
    case MATCH_RE:
        return "=~";
    case MATCH_NRE:
        return "!~";
    }
    return "?";
}
