/*
 * fuzz_rule_template.c - libFuzzer target for the annotation templates of
 * alert rules (src/rules/template.c), which come from rule files that teams
 * copy from elsewhere. The input is a template: it is checked with the
 * rules' variable names and rendered over fixed labels, value and
 * variables, and over no values at all. (fuzz_template is the target for
 * notification templates.) Besides memory errors and leaks it checks: a
 * refusal says where ("position N: ..."), checking is deterministic, the
 * output is bounded and never NULL, and text without "{{" comes back as it
 * is (cut at the bound).
 */
#include "fuzz_check.h"
#include "rules/template.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"explanation", "expected", "threshold", "deviation",
                                    "predicted",   "for",      NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct labelset ls;
    static const double values[] = {1234567.0, -0.0012, 0, NAN, INFINITY, 1e300};
    char err[512] = "", err2[512] = "";
    if (ls.n == 0) {
        labels_set(&ls, "instance", "db-1:9100");
        labels_set(&ls, "mountpoint", "/");
        labels_set(&ls, "utf8", "\xc3\xa4\xe2\x82\xac");
    }
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    size_t len = strlen(src);

    int rc = template_check(src, names, err, sizeof(err));
    fuzz_check(rc == 0 || rc == -1);
    fuzz_check(rc == 0 || strncmp(err, "position ", 9) == 0);
    fuzz_check(template_check(src, names, err2, sizeof(err2)) == rc);
    fuzz_check(rc == 0 || strcmp(err, err2) == 0);

    struct template_var extra[] = {{"expected", "1,200\xe2\x80\x93"
                                                "1,900"},
                                   {"for", "10m"}};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct template_vars v = {.labels = &ls, .value = values[i], .extra = extra, .n_extra = 2};
        char *out = template_render(src, i ? &v : NULL);
        fuzz_check(out != NULL);
        size_t olen = strlen(out);
        fuzz_check(olen <= TEMPLATE_MAX_OUTPUT);
        if (!strstr(src, "{{"))
            fuzz_check(strncmp(out, src, olen) == 0 &&
                       (olen == len || len > TEMPLATE_MAX_OUTPUT - 3));
        free(out);
    }
    free(src);
    return 0;
}
