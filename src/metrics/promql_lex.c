/*
 * promql_lex.c - PromQL's tokens, as Prometheus's lexer (2.42) cuts them:
 * numbers (decimal, hexadecimal, octal, exponents, Inf and NaN in any case),
 * durations ("5m", "1h30m", "250ms"), strings in ' " and ` quotes with Go's
 * escapes, identifiers that may hold colons, keywords in any case, and '#'
 * comments to the end of the line.
 *
 * The lexer is driven by the parser one token at a time; the parser says
 * when it is inside a selector's braces, where keywords are plain label
 * names and "=" starts a matcher.
 */
#include "promql_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_alpha(int c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(int c)
{
    return is_alpha(c) || is_digit(c);
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int peek(const struct pq_lexer *lx, size_t ahead)
{
    size_t p = lx->pos + ahead;
    return p < lx->len ? (unsigned char)lx->s[p] : -1;
}

static void lex_error(struct pq_lexer *lx, struct pq_token *tok, size_t pos, const char *fmt,
                      int ch)
{
    tok->type = T_ERROR;
    tok->pos = pos;
    tok->len = 0;
    if (ch >= 0x20 && ch < 0x7f)
        snprintf(lx->err, sizeof(lx->err), fmt, ch);
    else {
        /* Control bytes and the bytes of other characters are shown as codes. */
        char shown[64];
        snprintf(shown, sizeof(shown), "%s", fmt);
        char *q = strstr(shown, "'%c'");
        if (q) {
            char tail[64];
            snprintf(tail, sizeof(tail), "%s", q + 4);
            snprintf(q, sizeof(shown) - (size_t)(q - shown), "byte 0x%02x%s", ch & 0xff, tail);
        }
        snprintf(lx->err, sizeof(lx->err), "%s", shown);
    }
}

struct keyword {
    const char *word;
    enum pq_tok tok;
    enum pq_agg agg;
};

static const struct keyword keywords[] = {
    {"and", T_AND, 0},
    {"or", T_OR, 0},
    {"unless", T_UNLESS, 0},
    {"atan2", T_ATAN2, 0},
    {"sum", T_AGG, PQ_SUM},
    {"avg", T_AGG, PQ_AVG},
    {"count", T_AGG, PQ_COUNT},
    {"min", T_AGG, PQ_MIN},
    {"max", T_AGG, PQ_MAX},
    {"group", T_AGG, PQ_GROUP},
    {"stddev", T_AGG, PQ_STDDEV},
    {"stdvar", T_AGG, PQ_STDVAR},
    {"topk", T_AGG, PQ_TOPK},
    {"bottomk", T_AGG, PQ_BOTTOMK},
    {"count_values", T_AGG, PQ_COUNT_VALUES},
    {"quantile", T_AGG, PQ_QUANTILE},
    {"offset", T_OFFSET, 0},
    {"by", T_BY, 0},
    {"without", T_WITHOUT, 0},
    {"on", T_ON, 0},
    {"ignoring", T_IGNORING, 0},
    {"group_left", T_GROUP_LEFT, 0},
    {"group_right", T_GROUP_RIGHT, 0},
    {"bool", T_BOOL, 0},
    {"inf", T_NUMBER, 0},
    {"nan", T_NUMBER, 0},
};

static const struct keyword *find_keyword(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strlen(keywords[i].word) == len && strncasecmp(keywords[i].word, s, len) == 0)
            return &keywords[i];
    return NULL;
}

/*
 * A number as Prometheus 2.42 scans it: [0x]digits[.digits][e[+-]digits],
 * not followed by a letter or digit. Returns false (with lx->pos moved past
 * what was read) when a letter follows, which makes it a duration or an error.
 */
static bool scan_number(struct pq_lexer *lx)
{
    const char *digits = "0123456789";
    if (peek(lx, 0) == '0' && (peek(lx, 1) == 'x' || peek(lx, 1) == 'X')) {
        lx->pos += 2;
        digits = "0123456789abcdefABCDEF";
    }
    while (peek(lx, 0) > 0 && strchr(digits, peek(lx, 0)))
        lx->pos++;
    if (peek(lx, 0) == '.') {
        lx->pos++;
        while (peek(lx, 0) > 0 && strchr(digits, peek(lx, 0)))
            lx->pos++;
    }
    if (peek(lx, 0) == 'e' || peek(lx, 0) == 'E') {
        lx->pos++;
        if (peek(lx, 0) == '+' || peek(lx, 0) == '-')
            lx->pos++;
        while (is_digit(peek(lx, 0)))
            lx->pos++;
    }
    return !is_alnum(peek(lx, 0));
}

/* The rest of a duration after its first number: units and more numbers. */
static bool scan_duration_rest(struct pq_lexer *lx)
{
    int c = peek(lx, 0);
    if (c < 0 || !strchr("smhdwy", c))
        return false;
    lx->pos++;
    if (peek(lx, 0) == 's')
        lx->pos++;
    while (is_digit(peek(lx, 0))) {
        while (is_digit(peek(lx, 0)))
            lx->pos++;
        c = peek(lx, 0);
        if (c < 0 || !strchr("smhdw", c))
            return false;
        lx->pos++;
        if (peek(lx, 0) == 's')
            lx->pos++;
    }
    return !is_alnum(peek(lx, 0));
}

static void lex_string(struct pq_lexer *lx, struct pq_token *tok, int quote)
{
    size_t start = lx->pos;
    lx->pos++;
    for (;;) {
        int c = peek(lx, 0);
        if (c < 0 || (c == '\n' && quote != '`')) {
            lex_error(lx, tok, start,
                      quote == '`' ? "unterminated raw string" : "unterminated quoted string", 0);
            return;
        }
        lx->pos++;
        if (c == quote)
            break;
        if (c == '\\' && quote != '`') {
            if (peek(lx, 0) < 0) {
                lex_error(lx, tok, start, "escape sequence not terminated", 0);
                return;
            }
            lx->pos++;
        }
    }
    tok->type = T_STRING;
    tok->pos = start;
    tok->len = lx->pos - start;
}

static void lex_ident(struct pq_lexer *lx, struct pq_token *tok, bool colons)
{
    size_t start = lx->pos;
    bool colon = false;
    while (is_alnum(peek(lx, 0)) || (colons && peek(lx, 0) == ':')) {
        if (peek(lx, 0) == ':')
            colon = true;
        lx->pos++;
    }
    tok->pos = start;
    tok->len = lx->pos - start;
    tok->type = colon ? T_METRIC_IDENT : T_IDENT;
    if (!colons || colon)
        return;
    const struct keyword *kw = find_keyword(lx->s + start, tok->len);
    if (kw) {
        tok->type = kw->tok;
        tok->agg = kw->agg;
    }
}

static void skip_space_and_comments(struct pq_lexer *lx)
{
    for (;;) {
        int c = peek(lx, 0);
        if (is_space(c))
            lx->pos++;
        else if (c == '#') {
            while (peek(lx, 0) >= 0 && peek(lx, 0) != '\n' && peek(lx, 0) != '\r')
                lx->pos++;
        } else
            return;
    }
}

static void lex_in_braces(struct pq_lexer *lx, struct pq_token *tok)
{
    int c = peek(lx, 0);
    size_t start = lx->pos;
    tok->pos = start;
    tok->len = 1;
    if (c < 0) {
        lex_error(lx, tok, start, "unexpected end of input inside braces", 0);
        return;
    }
    if (is_alpha(c)) {
        lex_ident(lx, tok, false);
        return;
    }
    if (c == '"' || c == '\'' || c == '`') {
        lex_string(lx, tok, c);
        return;
    }
    lx->pos++;
    switch (c) {
    case ',':
        tok->type = T_COMMA;
        return;
    case '}':
        tok->type = T_RBRACE;
        return;
    case '=':
        if (peek(lx, 0) == '~') {
            lx->pos++;
            tok->type = T_RE;
            tok->len = 2;
        } else
            tok->type = T_ASSIGN;
        return;
    case '!':
        if (peek(lx, 0) == '~' || peek(lx, 0) == '=') {
            tok->type = peek(lx, 0) == '~' ? T_NRE : T_NEQ;
            lx->pos++;
            tok->len = 2;
            return;
        }
        lex_error(lx, tok, start, "unexpected character after '!' inside braces: '%c'",
                  peek(lx, 0));
        return;
    default:
        lex_error(lx, tok, start, "unexpected character inside braces: '%c'", c);
    }
}

void pq_lex_next(struct pq_lexer *lx, bool in_braces, struct pq_token *tok)
{
    memset(tok, 0, sizeof(*tok));
    skip_space_and_comments(lx);
    if (in_braces) {
        lex_in_braces(lx, tok);
        return;
    }
    size_t start = lx->pos;
    int c = peek(lx, 0);
    tok->pos = start;
    tok->len = 1;
    if (c < 0) {
        tok->type = T_EOF;
        tok->len = 0;
        return;
    }
    if (is_digit(c) || (c == '.' && is_digit(peek(lx, 1)))) {
        if (scan_number(lx)) {
            tok->type = T_NUMBER;
        } else if (scan_duration_rest(lx)) {
            tok->type = T_DURATION;
        } else {
            while (is_alnum(peek(lx, 0)) || peek(lx, 0) == '.')
                lx->pos++;
            snprintf(lx->err, sizeof(lx->err), "bad number or duration syntax: \"%.*s\"",
                     (int)(lx->pos - start > 40 ? 40 : lx->pos - start), lx->s + start);
            tok->type = T_ERROR;
            tok->pos = start;
            return;
        }
        tok->len = lx->pos - start;
        return;
    }
    if (is_alpha(c) || c == ':') {
        lex_ident(lx, tok, true);
        return;
    }
    if (c == '"' || c == '\'' || c == '`') {
        lex_string(lx, tok, c);
        return;
    }
    lx->pos++;
    switch (c) {
    case ',':
        tok->type = T_COMMA;
        return;
    case '(':
        tok->type = T_LPAREN;
        return;
    case ')':
        tok->type = T_RPAREN;
        return;
    case '{':
        tok->type = T_LBRACE;
        return;
    case '}':
        tok->type = T_RBRACE;
        return;
    case '[':
        tok->type = T_LBRACKET;
        return;
    case ']':
        tok->type = T_RBRACKET;
        return;
    case '@':
        tok->type = T_AT;
        return;
    case '*':
        tok->type = T_MUL;
        return;
    case '/':
        tok->type = T_DIV;
        return;
    case '%':
        tok->type = T_MOD;
        return;
    case '+':
        tok->type = T_ADD;
        return;
    case '-':
        tok->type = T_SUB;
        return;
    case '^':
        tok->type = T_POW;
        return;
    case '=':
        if (peek(lx, 0) == '=') {
            lx->pos++;
            tok->type = T_EQLC;
            tok->len = 2;
        } else if (peek(lx, 0) == '~') {
            lex_error(lx, tok, start, "unexpected character after '=': '%c'", '~');
        } else
            tok->type = T_ASSIGN;
        return;
    case '!':
        if (peek(lx, 0) != '=') {
            lex_error(lx, tok, start, "unexpected character after '!': '%c'", peek(lx, 0));
            return;
        }
        lx->pos++;
        tok->type = T_NEQ;
        tok->len = 2;
        return;
    case '<':
    case '>':
        if (peek(lx, 0) == '=') {
            lx->pos++;
            tok->type = c == '<' ? T_LTE : T_GTE;
            tok->len = 2;
        } else
            tok->type = c == '<' ? T_LSS : T_GTR;
        return;
    case ':':
        tok->type = T_COLON;
        return;
    default:
        lex_error(lx, tok, start, "unexpected character: '%c'", c);
    }
}

/* ---- string literals ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 16;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Whether s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07;
        } else
            return false;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
            return false;
        i += k + 1;
    }
    return true;
}

char *pq_unquote(const char *tok, size_t len, char *err, size_t errlen)
{
    if (len < 2) {
        snprintf(err, errlen, "invalid string literal");
        return NULL;
    }
    char quote = tok[0];
    const char *s = tok + 1;
    size_t n = len - 2;
    /* Escapes only shrink the text, so the literal's length bounds the result. */
    char *out = malloc(n + 1);
    if (!out) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t o = 0;
    if (quote == '`') {
        memcpy(out, s, n);
        o = n;
    } else {
        for (size_t i = 0; i < n;) {
            char ch = s[i++];
            if (ch != '\\') {
                out[o++] = ch;
                continue;
            }
            if (i >= n) {
                snprintf(err, errlen, "escape sequence not terminated");
                goto fail;
            }
            char e = s[i++];
            int digits = 0, base = 0;
            uint32_t maxv = 255;
            switch (e) {
            case 'a':
                out[o++] = '\a';
                continue;
            case 'b':
                out[o++] = '\b';
                continue;
            case 'f':
                out[o++] = '\f';
                continue;
            case 'n':
                out[o++] = '\n';
                continue;
            case 'r':
                out[o++] = '\r';
                continue;
            case 't':
                out[o++] = '\t';
                continue;
            case 'v':
                out[o++] = '\v';
                continue;
            case '\\':
                out[o++] = '\\';
                continue;
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
                i--;
                digits = 3;
                base = 8;
                break;
            case 'x':
                digits = 2;
                base = 16;
                break;
            case 'u':
                digits = 4;
                base = 16;
                maxv = 0x10ffff;
                break;
            case 'U':
                digits = 8;
                base = 16;
                maxv = 0x10ffff;
                break;
            default:
                if (e == quote) {
                    out[o++] = e;
                    continue;
                }
                snprintf(err, errlen, "unknown escape sequence \\%c",
                         (e >= 0x20 && e < 0x7f) ? e : '?');
                goto fail;
            }
            uint32_t x = 0;
            for (int d = 0; d < digits; d++) {
                int v = i < n ? hexval((unsigned char)s[i]) : 16;
                if (v >= base) {
                    snprintf(err, errlen, "invalid character in escape sequence");
                    goto fail;
                }
                x = x * (uint32_t)base + (uint32_t)v;
                i++;
            }
            if (x > maxv || (x >= 0xd800 && x < 0xe000)) {
                snprintf(err, errlen, "escape sequence is an invalid Unicode code point");
                goto fail;
            }
            if (e == 'u' || e == 'U')
                o += put_utf8(out + o, x);
            else
                out[o++] = (char)x; /* \x and octal escapes are single bytes, as in Go */
        }
    }
    out[o] = '\0';
    if (memchr(out, '\0', o) || !valid_utf8((const unsigned char *)out, o)) {
        snprintf(err, errlen, "string is not valid UTF-8 text");
        goto fail;
    }
    return out;
fail:
    free(out);
    return NULL;
}
