/*
 * config_hostfile.c - host files: thousands of hosts (print spoolers, branch
 * switches) kept in a CSV export from an inventory rather than in YAML.
 * A CSV file is read into the same JSON shape as a `hosts:` list, with the
 * line and column of every cell, so the one validator checks it and its
 * messages point into hosts.csv. RFC 4180 quoting; a byte-order mark and
 * CRLF line ends are accepted.
 */
#include "config_int.h"
#include "config_yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ck_put(struct ck_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* ---- Host files ---- */

/*
 * Reads a regular file of at most CK_MAX_FILE_BYTES. Returns a new buffer
 * (NUL-terminated, caller frees) or NULL with a message in err. Devices and
 * pipes are refused so that a host file can never block the loader.
 */
char *ck_read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    char *buf = NULL;
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        goto out;
    }
    if (st.st_size > (off_t)CK_MAX_FILE_BYTES) {
        snprintf(err, errlen, "file is larger than %u bytes", CK_MAX_FILE_BYTES);
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = malloc(cap);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* The file may change under us; never read past what was allocated. */
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            free(buf);
            buf = NULL;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
out:
    close(fd);
    return buf;
}

/* A path relative to the directory of the configuration file (or, for a
 * name without a directory, relative to the current directory). */
char *ck_resolve_path(const char *cfg_path, const char *name)
{
    char *out = NULL;
    const char *slash = cfg_path ? strrchr(cfg_path, '/') : NULL;
    if (name[0] == '/' || !slash)
        return strdup(name);
    if (asprintf(&out, "%.*s/%s", (int)(slash - cfg_path), cfg_path, name) < 0)
        return NULL;
    return out;
}

/* One CSV cell. */
struct ck_cell {
    char *text; /* owned */
    struct yaml_pos pos;
    bool quoted;
};

struct ck_csv {
    const char *buf;
    size_t len, i;
    unsigned line, col;
    struct ck_cell *cells; /* owned */
    size_t n, cap;
};

static void ck_csv_clear(struct ck_csv *r)
{
    for (size_t k = 0; k < r->n; k++)
        free(r->cells[k].text);
    r->n = 0;
}

static int ck_csv_push(struct ck_csv *r, struct ck_buf *cell, struct yaml_pos pos, bool quoted)
{
    if (cell->oom)
        return -1;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct ck_cell *v = realloc(r->cells, cap * sizeof(*v));
        if (!v)
            return -1;
        r->cells = v;
        r->cap = cap;
    }
    r->cells[r->n].text = cell->s ? cell->s : strdup("");
    r->cells[r->n].pos = pos;
    r->cells[r->n].quoted = quoted;
    cell->s = NULL;
    cell->len = cell->cap = 0;
    return r->cells[r->n++].text ? 0 : -1;
}

/*
 * Reads one record (RFC 4180: cells separated by commas, "quoted" cells may
 * hold commas, newlines and "" for a quote; CRLF or LF line ends). Unquoted
 * cells are trimmed of spaces. Returns 0, or -1 with a message and its
 * position in err/errpos.
 */
static int ck_csv_record(struct ck_csv *r, char *err, size_t errlen, struct yaml_pos *errpos)
{
    ck_csv_clear(r);
    for (;;) {
        struct ck_buf cell = {0};
        while (r->i < r->len && (r->buf[r->i] == ' ' || r->buf[r->i] == '\t')) {
            r->i++;
            r->col++;
        }
        struct yaml_pos pos = {r->line, r->col};
        bool quoted = r->i < r->len && r->buf[r->i] == '"';
        if (quoted) {
            r->i++;
            r->col++;
            for (;;) {
                if (r->i >= r->len) {
                    free(cell.s);
                    *errpos = pos;
                    snprintf(err, errlen, "unterminated quoted cell");
                    return -1;
                }
                char ch = r->buf[r->i];
                if (ch == '"' && r->i + 1 < r->len && r->buf[r->i + 1] == '"') {
                    ck_put(&cell, "\"", 1);
                    r->i += 2;
                    r->col += 2;
                    continue;
                }
                r->i++;
                if (ch == '"') {
                    r->col++;
                    break;
                }
                ck_put(&cell, &ch, 1);
                if (ch == '\n') {
                    r->line++;
                    r->col = 1;
                } else {
                    r->col++;
                }
            }
            while (r->i < r->len &&
                   (r->buf[r->i] == ' ' || r->buf[r->i] == '\t' || r->buf[r->i] == '\r')) {
                r->i++;
                r->col++;
            }
            if (r->i < r->len && r->buf[r->i] != ',' && r->buf[r->i] != '\n') {
                free(cell.s);
                errpos->line = r->line;
                errpos->col = r->col;
                snprintf(err, errlen, "unexpected text after a quoted cell");
                return -1;
            }
            ck_put(&cell, "", 0);
        } else {
            size_t start = r->i;
            while (r->i < r->len && r->buf[r->i] != ',' && r->buf[r->i] != '\n') {
                if (r->buf[r->i] == '"') {
                    free(cell.s);
                    errpos->line = r->line;
                    errpos->col = r->col;
                    snprintf(err, errlen, "a quote inside an unquoted cell");
                    return -1;
                }
                r->i++;
                r->col++;
            }
            size_t end = r->i;
            while (end > start &&
                   (r->buf[end - 1] == ' ' || r->buf[end - 1] == '\t' || r->buf[end - 1] == '\r'))
                end--;
            ck_put(&cell, r->buf + start, end - start);
        }
        if (ck_csv_push(r, &cell, pos, quoted) < 0) {
            free(cell.s);
            *errpos = pos;
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (r->i < r->len && r->buf[r->i] == ',') {
            r->i++;
            r->col++;
            continue;
        }
        if (r->i < r->len) { /* '\n' */
            r->i++;
            r->line++;
            r->col = 1;
        }
        return 0;
    }
}

/* A string node at path with its position, as the YAML reader would record. */
static int ck_csv_node(json_t *parent, const char *key, json_t *value, struct yaml_positions *pos,
                       const char *path, struct yaml_pos at)
{
    if (!value)
        return -1;
    int rc = key ? json_object_set_new(parent, key, value) : json_array_append_new(parent, value);
    if (rc < 0)
        return -1;
    return yaml_positions_set(pos, path, at, at);
}

/* Converts one CSV row into a host mapping {name, address, parents, labels}. */
static int ck_csv_row(struct ck_file *f, struct ck_csv *r, char **header, size_t n_cols,
                      unsigned row_line, char *err, size_t errlen, struct yaml_pos *errpos)
{
    size_t k = json_array_size(f->root);
    char ipath[32];
    snprintf(ipath, sizeof(ipath), "[%zu]", k);
    json_t *obj = json_object(), *labels = json_object();
    struct yaml_pos rowpos = {row_line, 1}, nokey = {0, 0};
    int rc = -1;
    if (!obj || !labels || json_array_append(f->root, obj) < 0 ||
        yaml_positions_set(f->pos, ipath, rowpos, nokey) < 0)
        goto oom;
    if (r->n > n_cols) {
        *errpos = r->cells[n_cols].pos;
        snprintf(err, errlen, "row has %zu cells but the header has %zu", r->n, n_cols);
        goto out;
    }
    for (size_t col = 0; col < r->n; col++) {
        const struct ck_cell *cell = &r->cells[col];
        const char *h = header[col];
        char *path = NULL;
        if (!*cell->text)
            continue;
        json_t *probe = json_stringn(cell->text, strlen(cell->text));
        json_decref(probe);
        if (!probe) {
            *errpos = cell->pos;
            snprintf(err, errlen, "cell is not valid UTF-8");
            goto out;
        }
        if (strcmp(h, "name") == 0 || strcmp(h, "address") == 0) {
            path = yaml_path_key(ipath, h);
            if (!path ||
                ck_csv_node(obj, h, json_string(cell->text), f->pos, path, cell->pos) < 0) {
                free(path);
                goto oom;
            }
        } else if (strcmp(h, "parents") == 0) {
            /* Space- or ';'-separated; all entries point at the cell. */
            json_t *list = json_array();
            path = yaml_path_key(ipath, "parents");
            if (!path || ck_csv_node(obj, "parents", list, f->pos, path, cell->pos) < 0) {
                free(path);
                goto oom;
            }
            for (const char *p = cell->text; *p;) {
                size_t n = strcspn(p, " \t;,");
                if (n) {
                    char *one = strndup(p, n),
                         *epath = yaml_path_index(path, json_array_size(list));
                    int e = !one || !epath ? -1
                                           : ck_csv_node(list, NULL, json_string(one), f->pos,
                                                         epath, cell->pos);
                    free(one);
                    free(epath);
                    if (e < 0) {
                        free(path);
                        goto oom;
                    }
                }
                p += n;
                p += strspn(p, " \t;,");
            }
        } else {
            char *lpath = yaml_path_key(ipath, "labels");
            path = lpath ? yaml_path_key(lpath, h) : NULL;
            free(lpath);
            if (!path ||
                ck_csv_node(labels, h, json_string(cell->text), f->pos, path, cell->pos) < 0) {
                free(path);
                goto oom;
            }
        }
        free(path);
    }
    if (json_object_size(labels)) {
        char *lpath = yaml_path_key(ipath, "labels");
        if (!lpath || json_object_set(obj, "labels", labels) < 0 ||
            yaml_positions_set(f->pos, lpath, rowpos, rowpos) < 0) {
            free(lpath);
            goto oom;
        }
        free(lpath);
    }
    rc = 0;
    goto out;
oom:
    *errpos = rowpos;
    snprintf(err, errlen, "out of memory");
out:
    json_decref(obj);
    json_decref(labels);
    return rc;
}

/*
 * Reads a CSV host file into f->root (a list of host mappings, as a YAML
 * host file would give) and f->pos, with each cell's line and column, so the
 * host validator reports problems at the cell. The first row that is not
 * blank or a '#' comment is the header.
 */
void ck_csv_file(struct ck_file *f, const char *buf, size_t len, struct cfg_errors *errs)
{
    struct ck_csv r = {.buf = buf, .len = len, .line = 1, .col = 1};
    char **header = NULL, err[160];
    size_t n_cols = 0;
    struct yaml_pos errpos = {1, 1};
    bool failed = false;

    /* Spreadsheets often save CSV with a UTF-8 byte order mark. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        r.i = 3;
    f->root = json_array();
    f->pos = yaml_positions_new();
    if (!f->root || !f->pos) {
        cfg_errors_add(errs, "%s: out of memory", f->name);
        return;
    }
    while (r.i < r.len && !failed) {
        unsigned row_line = r.line;
        if (ck_csv_record(&r, err, sizeof(err), &errpos) < 0) {
            failed = true;
            break;
        }
        if ((r.n == 1 && !r.cells[0].quoted && !*r.cells[0].text) ||
            (!r.cells[0].quoted && r.cells[0].text[0] == '#'))
            continue;
        if (header) {
            failed = ck_csv_row(f, &r, header, n_cols, row_line, err, sizeof(err), &errpos) < 0;
            continue;
        }
        header = calloc(r.n, sizeof(*header));
        if (!header) {
            snprintf(err, sizeof(err), "out of memory");
            failed = true;
            break;
        }
        n_cols = r.n;
        bool has_name = false;
        for (size_t k = 0; k < r.n && !failed; k++) {
            header[k] = r.cells[k].text;
            r.cells[k].text = NULL;
            has_name |= strcmp(header[k], "name") == 0;
            bool dup = false;
            for (size_t j = 0; j < k; j++)
                dup |= strcmp(header[j], header[k]) == 0;
            if (!*header[k] || dup) {
                errpos = r.cells[k].pos;
                snprintf(err, sizeof(err), "%s column name \"%.64s\" in the header",
                         dup ? "duplicate" : "empty", header[k]);
                failed = true;
            }
        }
        if (!has_name && !failed) {
            errpos.line = row_line;
            errpos.col = 1;
            snprintf(err, sizeof(err), "the header row must have a \"name\" column");
            failed = true;
        }
    }
    if (failed)
        cfg_errors_add(errs, "%s:%u:%u: %s", f->name, errpos.line, errpos.col, err);
    else if (!header)
        cfg_errors_add(errs, "%s:1:1: the file has no header row (name,address,parents,...)",
                       f->name);
    ck_csv_clear(&r);
    free(r.cells);
    for (size_t k = 0; k < n_cols && header; k++)
        free(header[k]);
    free(header);
}
