/*
 * parse_num.c - numbers and text for the ingest parsers.
 *
 * Floats take Clinger's fast path when the decimal significand fits in 53
 * bits and the power of ten is exact in a double (10^0..10^22): one IEEE
 * multiplication or division of two exact operands is correctly rounded,
 * so the result is the one strtod gives. That covers nearly every value an
 * exporter writes ("1.25", "98.0", "8.288032e+06"). Everything else goes to
 * strtod_l with the "C" locale, so a process locale with a decimal comma
 * (setlocale(LC_ALL, "de_DE")) cannot change how "1.5" reads.
 */
#include "parse_num.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const double pn_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static locale_t pn_c_locale;
static pthread_once_t pn_locale_once = PTHREAD_ONCE_INIT;

static void pn_locale_init(void)
{
    pn_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static bool pn_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Exponents beyond this are clamped while reading: the value is 0 or out of range anyway. */
#define PN_EXP_CLAMP 100000

int pn_decimal(const char *s, size_t n, bool allow_plus, double *out)
{
    size_t i = 0, ndigits = 0;
    bool neg = false, trunc = false;
    uint64_t mant = 0;
    int nd = 0;
    long dexp = 0, e = 0;

    if (i < n && (s[i] == '-' || (allow_plus && s[i] == '+'))) {
        neg = s[i] == '-';
        i++;
    }
    /*
     * Up to 19 significant digits go into mant (10^19 fits in 64 bits);
     * more integer digits only scale it, more fraction digits are dropped,
     * and either makes the fast path unusable when they are not zeros.
     */
    for (; i < n && pn_digit(s[i]); i++) {
        int d = s[i] - '0';
        ndigits++;
        if (mant == 0 && d == 0)
            continue;
        if (nd < 19) {
            mant = mant * 10 + (uint64_t)d;
            nd++;
        } else {
            dexp++;
            trunc |= d != 0;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && pn_digit(s[i]); i++) {
            int d = s[i] - '0';
            ndigits++;
            if (mant == 0 && d == 0) {
                dexp--;
            } else if (nd < 19) {
                mant = mant * 10 + (uint64_t)d;
                nd++;
                dexp--;
            } else {
                trunc |= d != 0;
            }
        }
    }
    if (ndigits == 0)
        return PN_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        size_t start;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        for (start = i; i < n && pn_digit(s[i]); i++)
            if (e < PN_EXP_CLAMP)
                e = e * 10 + (s[i] - '0');
        if (i == start)
            return PN_SYNTAX;
        if (eneg)
            e = -e;
    }
    if (i != n)
        return PN_SYNTAX;

    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return PN_OK;
    }
    long exp10 = dexp + e;
    if (!trunc && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pn_pow10[-exp10] : v * pn_pow10[exp10];
        *out = neg ? -v : v;
        return PN_OK;
    }

    /* The slow path: the token is known to be a plain decimal here. */
    char buf[PN_MAX_FLOAT_LEN + 1];
    char *end = NULL;
    double v;
    if (n > PN_MAX_FLOAT_LEN)
        return PN_SYNTAX;
    memcpy(buf, s, n);
    buf[n] = '\0';
    pthread_once(&pn_locale_once, pn_locale_init);
    if (pn_c_locale)
        v = strtod_l(buf, &end, pn_c_locale);
    else
        v = strtod(buf, &end);
    if (end != buf + n)
        return PN_SYNTAX;
    if (isinf(v))
        return PN_RANGE;
    *out = v;
    return PN_OK;
}

/* Case-insensitive comparison of s[0..n) with the lowercase word w. */
static bool pn_word(const char *s, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n && w[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != w[i])
            return false;
    }
    return i == n && w[i] == '\0';
}

int pn_float(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;

    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (pn_word(s + i, n - i, "inf") || pn_word(s + i, n - i, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return PN_OK;
    }
    /* Go reads a signed "+NaN" as an error, not as NaN. */
    if (i == 0 && pn_word(s, n, "nan")) {
        *out = NAN;
        return PN_OK;
    }
    return pn_decimal(s, n, true, out);
}

int pn_int64(const char *s, size_t n, bool allow_plus, int64_t *out)
{
    size_t i = 0;
    bool neg = false, over = false;
    uint64_t v = 0;

    if (i < n && (s[i] == '-' || (allow_plus && s[i] == '+'))) {
        neg = s[i] == '-';
        i++;
    }
    if (i == n)
        return PN_SYNTAX;
    /* 2^63 is the magnitude of INT64_MIN; anything above it overflows either way. */
    const uint64_t limit = UINT64_C(9223372036854775808);
    for (; i < n; i++) {
        if (!pn_digit(s[i]))
            return PN_SYNTAX;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (limit - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over || (!neg && v == limit))
        return PN_RANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return PN_OK;
}

int pn_uint64(const char *s, size_t n, uint64_t *out)
{
    bool over = false;
    uint64_t v = 0;

    if (n == 0)
        return PN_SYNTAX;
    for (size_t i = 0; i < n; i++) {
        if (!pn_digit(s[i]))
            return PN_SYNTAX;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over)
        return PN_RANGE;
    *out = v;
    return PN_OK;
}

int pn_seconds_to_ms(const char *s, size_t n, int64_t *out)
{
    size_t i = 0, int_start, int_end, frac_start = 0, frac_end = 0;
    bool neg = false;
    long e = 0;

    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    for (int_start = i; i < n && pn_digit(s[i]); i++)
        ;
    int_end = i;
    if (i < n && s[i] == '.') {
        for (frac_start = ++i; i < n && pn_digit(s[i]); i++)
            ;
        frac_end = i;
    }
    size_t nint = int_end - int_start, ndig = nint + (frac_end - frac_start);
    if (ndig == 0)
        return PN_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        size_t start;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        for (start = i; i < n && pn_digit(s[i]); i++)
            if (e < PN_EXP_CLAMP)
                e = e * 10 + (s[i] - '0');
        if (i == start)
            return PN_SYNTAX;
        if (eneg)
            e = -e;
    }
    if (i != n)
        return PN_SYNTAX;

        /*
         * The digits D = integer digits then fraction digits, with the decimal
         * point after nint of them. In milliseconds the point moves e + 3
         * places right: the result is D[0..q) with q = nint + e + 3, and any
         * non-zero digit from q on is a remainder that floors a negative value.
         */
#define PN_DIGIT_AT(k)                                                                             \
    ((size_t)(k) < nint ? s[int_start + (k)] - '0'                                                 \
                        : ((size_t)(k) < ndig ? s[frac_start + (k)-nint] - '0' : 0))
    long k0 = 0;
    while ((size_t)k0 < ndig && PN_DIGIT_AT(k0) == 0)
        k0++;
    if ((size_t)k0 == ndig) {
        *out = 0;
        return PN_OK;
    }
    long q = (long)nint + e + 3;
    if (q - k0 > 19)
        return PN_RANGE; /* at least 10^19 ms */
    uint64_t acc = 0;
    for (long k = k0; k < q; k++)
        acc = acc * 10 + (uint64_t)PN_DIGIT_AT(k);
    bool rem = false;
    for (long k = q > k0 ? q : k0; (size_t)k < ndig && !rem; k++)
        rem = PN_DIGIT_AT(k) != 0;
#undef PN_DIGIT_AT
    if (!neg) {
        if (acc > (uint64_t)INT64_MAX)
            return PN_RANGE;
        *out = (int64_t)acc;
        return PN_OK;
    }
    if (rem)
        acc++;
    if (acc > UINT64_C(9223372036854775808))
        return PN_RANGE;
    *out = (int64_t)(0 - acc);
    return PN_OK;
}

bool pn_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

char *pn_quote(char *dst, size_t cap, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, shown = 0, i;

    if (cap == 0)
        return dst;
    for (i = 0; i < n && shown < max; i++, shown++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[4];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[k++] = (char)c;
        } else {
            tmp[k++] = '\\';
            tmp[k++] = 'x';
            tmp[k++] = hex[c >> 4];
            tmp[k++] = hex[c & 15];
        }
        if (o + k + 4 > cap) /* room for "..." and the NUL */
            break;
        memcpy(dst + o, tmp, k);
        o += k;
    }
    if (i < n && o + 4 <= cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}
