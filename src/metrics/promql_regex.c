/*
 * promql_regex.c - a bound on the regular expressions a query may carry.
 *
 * glibc's regcomp expands counted repetitions into copies: "(a{100}){100}"
 * becomes 10,000 nodes and a few more levels of it exhaust memory, so one
 * query could take the process down. Prometheus's regular expressions (Go's
 * regexp) refuse a repetition, nested ones multiplied, of more than 1000
 * ("invalid repeat count"); the same rule applies here, plus a bound on the
 * whole expanded expression, before anything is compiled.
 */
#include "promql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RE_MAX_REPEAT 1000
#define RE_MAX_SIZE   200000 /* nodes after expanding repetitions */
#define RE_MAX_DEPTH  256

struct re_frame {
    double size;      /* expanded size of the group so far */
    double last_size; /* size of the last atom (what a repetition applies to) */
    double last_mult; /* largest nested repetition product inside the last atom */
    double mult;      /* largest nested repetition product inside the group */
};

/* Reads "{m}", "{m,}" or "{m,n}" at s; returns its length or 0 when it is not one. */
static size_t read_interval(const char *s, double *count)
{
    const char *c = s + 1;
    double m = 0, n = -1;
    if (*c < '0' || *c > '9')
        return 0;
    while (*c >= '0' && *c <= '9') {
        m = m * 10 + (*c - '0');
        c++;
    }
    if (*c == ',') {
        c++;
        if (*c >= '0' && *c <= '9') {
            n = 0;
            while (*c >= '0' && *c <= '9') {
                n = n * 10 + (*c - '0');
                c++;
            }
        }
    }
    if (*c != '}')
        return 0;
    *count = n > m ? n : m;
    if (*count < 1)
        *count = 1;
    return (size_t)(c - s) + 1;
}

int pq_regex_check(const char *re, char *err, size_t errlen)
{
    struct re_frame st[RE_MAX_DEPTH + 1];
    int top = 0;
    memset(&st[0], 0, sizeof(st[0]));
    for (const char *c = re; *c; c++) {
        struct re_frame *f = &st[top];
        double count = 0;
        size_t len;
        switch (*c) {
        case '(':
            if (top == RE_MAX_DEPTH) {
                snprintf(err, errlen, "regular expression nests too deeply");
                return -1;
            }
            memset(&st[++top], 0, sizeof(st[0]));
            continue;
        case ')':
            if (top == 0)
                break; /* regcomp reports it */
            top--;
            st[top].last_size = st[top + 1].size;
            st[top].last_mult = st[top + 1].mult;
            st[top].size += st[top + 1].size;
            if (st[top + 1].mult > st[top].mult)
                st[top].mult = st[top + 1].mult;
            continue;
        case '{':
            len = read_interval(c, &count);
            if (len == 0)
                break;
            if (count * (f->last_mult > 1 ? f->last_mult : 1) > RE_MAX_REPEAT) {
                snprintf(err, errlen, "invalid repeat count");
                return -1;
            }
            f->last_mult = count * (f->last_mult > 1 ? f->last_mult : 1);
            if (f->last_mult > f->mult)
                f->mult = f->last_mult;
            f->size += f->last_size * (count - 1);
            f->last_size *= count;
            c += len - 1;
            if (f->size > RE_MAX_SIZE)
                goto too_large;
            continue;
        case '*':
        case '+':
        case '?':
        case '|':
            continue;
        case '\\':
            if (c[1])
                c++;
            break;
        case '[': {
            /* A bracket expression is one atom; "]" first is a member, as are [:class:]. */
            const char *e = c + 1;
            if (*e == '^')
                e++;
            if (*e == ']')
                e++;
            while (*e && *e != ']') {
                if (*e == '[' && (e[1] == ':' || e[1] == '.' || e[1] == '=')) {
                    const char *close = strchr(e + 2, e[1]);
                    e = close && close[1] == ']' ? close + 2 : e + 1;
                } else
                    e++;
            }
            if (*e == ']')
                c = e;
            else
                c = e - 1;
            break;
        }
        default:
            break;
        }
        /* An atom of size 1. */
        f->last_size = 1;
        f->last_mult = 1;
        f->size += 1;
        if (f->size > RE_MAX_SIZE)
            goto too_large;
    }
    for (int i = top; i > 0; i--)
        st[i - 1].size += st[i].size;
    if (st[0].size > RE_MAX_SIZE)
        goto too_large;
    return 0;
too_large:
    snprintf(err, errlen, "regular expression too large");
    return -1;
}
