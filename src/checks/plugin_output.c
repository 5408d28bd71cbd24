/*
 * plugin_output.c - splits the text a Nagios-compatible plugin prints into
 * summary, long output and performance data; see plugin_output.h.
 *
 * Layout (Nagios 3 "Plugin API"): the first line is the summary, with
 * perfdata after its first '|'. Later lines are long output until one of them
 * has a '|': the text after that '|', and every line after that one, is
 * perfdata. Output comes from programs we do not control, so nothing here
 * fails on bad text: a perfdata item that does not parse is skipped and
 * counted, a NUL ends the text of its line (what a C consumer would see),
 * and CR before LF and trailing blanks are dropped. Every loop is linear in
 * the input, so the parser is safe on any length; the caller's 64 KiB cap
 * only bounds memory.
 *
 * Items follow the Monitoring Plugins development guidelines:
 * 'label'=value[UOM];[warn];[crit];[min];[max]. We are lenient where real
 * plugins differ from the letter (a ',' decimal separator, trailing ';',
 * units other than the listed ones, a quote inside an unquoted label) and
 * strict where guessing would invent data: a field that is present but does
 * not parse makes the whole item bad rather than silently dropping a
 * threshold.
 */
#include "plugin_output.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* What parsing one perfdata item came to. */
enum plugin_output_item {
    PLUGIN_OUTPUT_ITEM_OK,
    PLUGIN_OUTPUT_ITEM_BAD,
    PLUGIN_OUTPUT_ITEM_NOMEM,
};

/* A growing string for the long output; p is owned and NUL-terminated. */
struct plugin_output_text {
    char *p;
    size_t len, cap;
};

static bool plugin_output_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Finds the line that starts at buf[pos] and returns where its text ends (at
 * the first NUL, the newline or the end of input, with trailing CR and
 * blanks dropped). *next is set to the start of the following line, or len.
 */
static size_t plugin_output_line(const char *buf, size_t len, size_t pos, size_t *next)
{
    const char *nl = memchr(buf + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - buf) : len;
    const char *nul = memchr(buf + pos, '\0', end - pos);

    *next = nl ? end + 1 : len;
    if (nul)
        end = (size_t)(nul - buf);
    while (end > pos && plugin_output_is_blank(buf[end - 1]))
        end--;
    return end;
}

static size_t plugin_output_skip_token(const char *s, size_t i, size_t n)
{
    while (i < n && !plugin_output_is_blank(s[i]))
        i++;
    return i;
}

/*
 * Reads a label at s[i]: quoted ('' is one quote, '=' and blanks allowed) or
 * bare (up to the first '='). On success *label is a new string and the
 * returned index is that of the '='. Otherwise *label is NULL and the index
 * is where the bad item ends: an unterminated quote takes the rest of the
 * line, since there is no telling where its item would stop.
 */
static size_t plugin_output_label(const char *s, size_t i, size_t n, char **label,
                                  enum plugin_output_item *res)
{
    size_t j, k, out_len = 0;

    *label = NULL;
    *res = PLUGIN_OUTPUT_ITEM_BAD;
    if (s[i] != '\'') {
        for (j = i; j < n && s[j] != '=' && !plugin_output_is_blank(s[j]); j++)
            ;
        if (j == i || j >= n || s[j] != '=')
            return plugin_output_skip_token(s, j, n);
        *label = strndup(s + i, j - i);
        *res = *label ? PLUGIN_OUTPUT_ITEM_OK : PLUGIN_OUTPUT_ITEM_NOMEM;
        return j;
    }
    /* First pass: find the closing quote and the unescaped length. */
    for (j = i + 1;; j++) {
        if (j >= n)
            return n;
        if (s[j] == '\'') {
            if (j + 1 < n && s[j + 1] == '\'') {
                j++;
                out_len++;
                continue;
            }
            break;
        }
        out_len++;
    }
    /* s[j] is the closing quote; an '=' must follow and the label be non-empty. */
    if (out_len == 0 || j + 1 >= n || s[j + 1] != '=')
        return plugin_output_skip_token(s, j + 1, n);
    *label = malloc(out_len + 1);
    if (!*label) {
        *res = PLUGIN_OUTPUT_ITEM_NOMEM;
        return j + 1;
    }
    for (k = i + 1, out_len = 0; k < j; k++) {
        (*label)[out_len++] = s[k];
        if (s[k] == '\'')
            k++; /* the second quote of a '' pair */
    }
    (*label)[out_len] = '\0';
    *res = PLUGIN_OUTPUT_ITEM_OK;
    return j + 1;
}

/*
 * The unit after the number. Any printable text is taken (plugins use "°C",
 * "MB/s", "KiB" beyond the listed units) except what shows the number itself
 * was malformed: a digit anywhere ("0x10" would be 0 "x10") or a leading
 * separator or sign ("1.2.3" leaves ".3"), and '=' or a quote.
 * Longer units are cut to 7 bytes, backing off to a UTF-8 character start.
 */
static bool plugin_output_uom(const char *u, size_t n, char out[8])
{
    size_t cut = n;

    if (n > 0 && strchr(".,+-", u[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c < 0x20 || c == 0x7f || c == '=' || c == '\'' || (c >= '0' && c <= '9'))
            return false;
    }
    if (cut > 7) {
        cut = 7;
        while (cut > 0 && ((unsigned char)u[cut] & 0xC0) == 0x80)
            cut--;
    }
    memcpy(out, u, cut);
    out[cut] = '\0';
    return true;
}

/* Parses the value token after '=' (up to the next blank) into it. */
static bool plugin_output_fields(const char *s, size_t n, struct perf_item *it)
{
    size_t pos = 0, used;

    for (int field = 0; pos <= n; field++) {
        const char *semi = memchr(s + pos, ';', n - pos);
        size_t flen = (semi ? (size_t)(semi - s) : n) - pos;
        const char *f = s + pos;
        double d;

        switch (field) {
        case 0:
            /* "U" is the guidelines' value for "could not be determined". */
            if (flen == 1 && f[0] == 'U') {
                it->value = NAN;
                break;
            }
            used = range_scan_number(f, flen, &d);
            if (used == 0 || !plugin_output_uom(f + used, flen - used, it->uom))
                return false;
            it->value = d;
            break;
        case 1:
        case 2:
            if (flen == 0)
                break;
            if (range_parse(f, flen, field == 1 ? &it->warn : &it->crit, NULL, 0) != 0)
                return false;
            if (field == 1)
                it->has_warn = true;
            else
                it->has_crit = true;
            break;
        case 3:
        case 4:
            if (flen == 0)
                break;
            if (range_scan_number(f, flen, &d) != flen)
                return false;
            if (field == 3) {
                it->min = d;
                it->has_min = true;
            } else {
                it->max = d;
                it->has_max = true;
            }
            break;
        default:
            /* Some plugins end with extra ';'; tolerate empty extra fields only. */
            if (flen != 0)
                return false;
            break;
        }
        if (!semi)
            break;
        pos += flen + 1;
    }
    return true;
}

static int plugin_output_append(struct plugin_output *out, struct perf_item *it)
{
    /*
     * Grow by one: the array may have been filled by an earlier call, so its
     * capacity is only known to be n_perf, and PLUGIN_MAX_PERF bounds the
     * cost of the reallocations.
     */
    struct perf_item *np = realloc(out->perf, (out->n_perf + 1) * sizeof(*np));

    if (!np)
        return -1;
    out->perf = np;
    out->perf[out->n_perf++] = *it;
    return 0;
}

/* Parses one line's worth of perfdata, s[0..n), which holds no NUL or LF. */
static int plugin_output_perf_segment(const char *s, size_t n, struct plugin_output *out)
{
    size_t i = 0;

    while (i < n) {
        struct perf_item it = {0};
        enum plugin_output_item res;
        size_t end;

        if (plugin_output_is_blank(s[i])) {
            i++;
            continue;
        }
        i = plugin_output_label(s, i, n, &it.label, &res);
        if (res == PLUGIN_OUTPUT_ITEM_NOMEM)
            return -1;
        if (res == PLUGIN_OUTPUT_ITEM_BAD) {
            out->n_perf_bad++;
            continue;
        }
        /* s[i] is the '='; the value runs to the next blank. */
        i++;
        end = plugin_output_skip_token(s, i, n);
        if (end == i || !plugin_output_fields(s + i, end - i, &it) ||
            out->n_perf >= PLUGIN_MAX_PERF) {
            out->n_perf_bad++;
            free(it.label);
        } else if (plugin_output_append(out, &it) != 0) {
            free(it.label);
            return -1;
        }
        i = end;
    }
    return 0;
}

int plugin_perf_parse(const char *buf, size_t len, struct plugin_output *out)
{
    size_t pos = 0, next, end;

    /* Perfdata given on its own may span lines; each ends at a NUL like output lines. */
    while (pos < len) {
        end = plugin_output_line(buf, len, pos, &next);
        if (plugin_output_perf_segment(buf + pos, end - pos, out) != 0)
            return -1;
        pos = next;
    }
    return 0;
}

static int plugin_output_text_add(struct plugin_output_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        char *np;

        while (cap < t->len + n + 1)
            cap *= 2;
        np = realloc(t->p, cap);
        if (!np)
            return -1;
        t->p = np;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

/*
 * Adds one long-output line. Blank lines are held back and written only
 * when a later non-blank line follows, so the long output neither starts nor
 * ends with empty lines (plugins end with "\n"; some print a blank spacer).
 */
static int plugin_output_long_line(struct plugin_output_text *t, size_t *held, const char *s,
                                   size_t n)
{
    if (n == 0) {
        if (t->len > 0)
            (*held)++;
        return 0;
    }
    if (t->len > 0) {
        for (size_t k = 0; k <= *held; k++)
            if (plugin_output_text_add(t, "\n", 1) != 0)
                return -1;
    }
    *held = 0;
    return plugin_output_text_add(t, s, n);
}

int plugin_output_parse(const char *buf, size_t len, struct plugin_output *out)
{
    struct plugin_output_text lng = {0};
    size_t pos = 0, next, end, held = 0;
    const char *bar;
    bool in_perf = false;

    /* out is overwritten, not freed: the caller clears a previous result. */
    *out = (struct plugin_output){0};
    if (len == 0) {
        out->summary = strdup("");
        return out->summary ? 0 : -1;
    }

    /* The first line: summary, then perfdata after its first '|'. */
    end = plugin_output_line(buf, len, 0, &next);
    bar = memchr(buf, '|', end);
    {
        size_t s = 0, e = bar ? (size_t)(bar - buf) : end;

        while (s < e && plugin_output_is_blank(buf[s]))
            s++;
        while (e > s && plugin_output_is_blank(buf[e - 1]))
            e--;
        out->summary = strndup(buf + s, e - s);
        if (!out->summary)
            goto nomem;
    }
    if (bar && plugin_output_perf_segment(bar + 1, end - (size_t)(bar + 1 - buf), out) != 0)
        goto nomem;

    /* Long output, until a '|' switches every later byte to perfdata. */
    for (pos = next; pos < len; pos = next) {
        end = plugin_output_line(buf, len, pos, &next);
        if (in_perf) {
            if (plugin_output_perf_segment(buf + pos, end - pos, out) != 0)
                goto nomem;
            continue;
        }
        bar = memchr(buf + pos, '|', end - pos);
        if (bar) {
            size_t e = (size_t)(bar - buf);

            while (e > pos && plugin_output_is_blank(buf[e - 1]))
                e--;
            in_perf = true;
            if (plugin_output_long_line(&lng, &held, buf + pos, e - pos) != 0 ||
                plugin_output_perf_segment(bar + 1, end - (size_t)(bar + 1 - buf), out) != 0)
                goto nomem;
        } else if (plugin_output_long_line(&lng, &held, buf + pos, end - pos) != 0) {
            goto nomem;
        }
    }
    out->long_output = lng.p; /* NULL when no line had text */
    return 0;
nomem:
    free(lng.p);
    plugin_output_clear(out);
    return -1;
}

void plugin_output_clear(struct plugin_output *out)
{
    for (size_t i = 0; i < out->n_perf; i++)
        free(out->perf[i].label);
    free(out->perf);
    free(out->summary);
    free(out->long_output);
    *out = (struct plugin_output){0};
}

/*
 * Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or 0 when it is not one.
 */
static size_t plugin_output_utf8_len(const unsigned char *s, size_t i, size_t n)
{
    unsigned char c = s[i];
    size_t want;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        want = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        want = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        want = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (i + want > n || s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k < want; k++)
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
    return want;
}

/*
 * A JSON string for text a plugin printed. Labels and units are bytes from
 * the plugin, not necessarily UTF-8, and jansson refuses invalid UTF-8, so
 * each invalid byte becomes U+FFFD rather than losing the item.
 */
static json_t *plugin_output_json_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), o = 0;
    json_t *j = json_string(s);
    char *tmp;

    if (j)
        return j;
    tmp = malloc(n * 3 + 1);
    if (!tmp)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t l = plugin_output_utf8_len(u, i, n);
        if (l == 0) {
            memcpy(tmp + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(tmp + o, s + i, l);
            o += l;
            i += l;
        }
    }
    tmp[o] = '\0';
    j = json_string(tmp);
    free(tmp);
    return j;
}

static int plugin_output_json_item(json_t *arr, const struct perf_item *it)
{
    json_t *o = json_object();
    char rbuf[96];

    if (!o || json_array_append_new(arr, o) != 0)
        return -1;
    if (json_object_set_new(o, "label", plugin_output_json_text(it->label)) != 0)
        return -1;
    /* jansson has no NaN; an unknown ("U") value is null. */
    if (json_object_set_new(o, "value", isnan(it->value) ? json_null() : json_real(it->value)) != 0)
        return -1;
    if (it->uom[0] && json_object_set_new(o, "uom", plugin_output_json_text(it->uom)) != 0)
        return -1;
    if (it->has_warn &&
        json_object_set_new(o, "warn", json_string(range_format(&it->warn, rbuf, sizeof(rbuf)))) !=
            0)
        return -1;
    if (it->has_crit &&
        json_object_set_new(o, "crit", json_string(range_format(&it->crit, rbuf, sizeof(rbuf)))) !=
            0)
        return -1;
    if (it->has_min && json_object_set_new(o, "min", json_real(it->min)) != 0)
        return -1;
    if (it->has_max && json_object_set_new(o, "max", json_real(it->max)) != 0)
        return -1;
    return 0;
}

json_t *plugin_perf_to_json(const struct plugin_output *out)
{
    json_t *arr = json_array();

    if (!arr)
        return NULL;
    for (size_t i = 0; i < out->n_perf; i++) {
        if (plugin_output_json_item(arr, &out->perf[i]) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
