/*
 * promql_binop.c - binary operators: arithmetic (+ - * / % ^ atan2),
 * comparisons (filtering, or 0/1 with bool), and the set operators and, or,
 * unless; between scalars, a vector and a scalar, or two vectors matched
 * one-to-one, many-to-one (group_left) or one-to-many (group_right) on
 * their labels (on/ignoring).
 *
 * Matching follows Prometheus 2.42's VectorBinop step by step: at each step
 * the "one" side must have at most one series per match group ("many-to-many
 * matching not allowed"), a one-to-one match group at most one result, and a
 * many-to-one result label set may appear once per group. Arithmetic drops
 * the metric name, comparisons keep it unless bool is given, atan2 keeps it
 * (as 2.42 does). Signatures and result labels are computed once per series
 * (or pair), not per step.
 */
#include "promql_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool drops_name(enum pq_op op)
{
    return op == PQ_ADD || op == PQ_SUB || op == PQ_MUL || op == PQ_DIV || op == PQ_POW ||
           op == PQ_MOD;
}

/* The value of "l op r" and whether a comparison holds (arithmetic always keeps). */
static double elem_op(enum pq_op op, double l, double r, bool *keep)
{
    *keep = true;
    switch (op) {
    case PQ_ADD:
        return l + r;
    case PQ_SUB:
        return l - r;
    case PQ_MUL:
        return l * r;
    case PQ_DIV:
        return l / r;
    case PQ_POW:
        return pow(l, r);
    case PQ_MOD:
        return fmod(l, r);
    case PQ_ATAN2:
        return atan2(l, r);
    case PQ_EQLC:
        *keep = l == r;
        break;
    case PQ_NEQ:
        *keep = l != r;
        break;
    case PQ_GTR:
        *keep = l > r;
        break;
    case PQ_LSS:
        *keep = l < r;
        break;
    case PQ_GTE:
        *keep = l >= r;
        break;
    case PQ_LTE:
        *keep = l <= r;
        break;
    default:
        *keep = false;
        break;
    }
    return l;
}

static int eval_scalar_scalar(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *l,
                              struct pq_value *r, struct pq_value *out)
{
    for (size_t i = 0; i < c->nsteps; i++) {
        bool keep;
        double v = elem_op(e->op, l->sc[i], r->sc[i], &keep);
        l->sc[i] = pq_op_is_comparison(e->op) ? (keep ? 1 : 0) : v;
    }
    *out = *l;
    memset(l, 0, sizeof(*l));
    return PROMQL_OK;
}

static int eval_vector_scalar(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *vec,
                              const double *sc, bool swap, struct pq_value *out)
{
    struct pq_vb vb;
    int rc = PROMQL_OK;
    bool cmp = pq_op_is_comparison(e->op);
    pq_vb_init(&vb, c);
    for (size_t k = 0; k < vec->n && rc == PROMQL_OK; k++) {
        struct pq_series *s = &vec->s[k];
        struct labelset ls;
        if (pq_ls_copy_without(&ls, &s->ls, NULL, drops_name(e->op) || e->ret_bool) != 0) {
            rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
            break;
        }
        int slot = pq_vb_slot(&vb, &ls);
        if (slot < 0) {
            rc = slot;
            break;
        }
        for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++) {
            if (!s->ok[i])
                continue;
            double lv = s->v[i], rv = sc[i];
            if (swap) {
                double t = lv;
                lv = rv;
                rv = t;
            }
            bool keep;
            double v = elem_op(e->op, lv, rv, &keep);
            /* A comparison keeps the vector's value, whichever side it is on. */
            if (cmp && swap)
                v = rv;
            if (e->ret_bool) {
                v = keep ? 1 : 0;
                keep = true;
            }
            if (keep)
                rc = pq_vb_put(&vb, slot, i, v);
        }
    }
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

/* Prometheus's text of a label set, for messages: {a="b", c="d"}. */
static void ls_text(const struct labelset *ls, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "{");
    for (size_t i = 0; i < ls->n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s=\"%s\"", i ? ", " : "", ls->v[i].name,
                              ls->v[i].value);
    if (o < len)
        snprintf(buf + o, len - o, "}");
}

/* The match signature of a series: the labels on(...) names, or all but ignoring(...) and the name.
 */
static int signature(const struct promql_expr *e, const struct labelset *ls, struct labelset *sig)
{
    if (e->on)
        return pq_ls_copy_only(sig, ls, &e->match);
    return pq_ls_copy_without(sig, ls, &e->match, true);
}

struct sigs {
    struct labelset *sig; /* per distinct signature */
    size_t n;
    struct pq_map map;
    const struct labelset *probe;
};

static bool sig_eq(void *ctx, int idx)
{
    struct sigs *s = ctx;
    return pq_ls_eq(&s->sig[idx], s->probe);
}

/* The signature index of each series of v (distinct signatures numbered from 0). */
static int assign_sigs(struct pq_ctx *c, const struct promql_expr *e, const struct pq_value *v,
                       struct sigs *sg, int *out, bool add)
{
    for (size_t k = 0; k < v->n; k++) {
        struct labelset sig;
        if (signature(e, &v->s[k].ls, &sig) != 0)
            return pq_fail(c, PROMQL_ENOMEM, "out of memory");
        uint64_t h = pq_ls_hash(&sig);
        sg->probe = &sig;
        int idx = pq_map_get(&sg->map, h, sig_eq, sg);
        if (idx < 0 && add) {
            idx = (int)sg->n;
            sg->sig[sg->n++] = sig;
            if (pq_map_put(&sg->map, h, idx) != 0)
                return pq_fail(c, PROMQL_ENOMEM, "out of memory");
        } else
            labels_free(&sig);
        out[k] = idx;
    }
    return PROMQL_OK;
}

static void sigs_free(struct sigs *sg)
{
    for (size_t i = 0; i < sg->n; i++)
        labels_free(&sg->sig[i]);
    free(sg->sig);
    pq_map_free(&sg->map);
}

static int eval_set_op(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *l,
                       struct pq_value *r, struct pq_value *out)
{
    struct sigs sg = {0};
    int *lsig = NULL, *rsig = NULL;
    uint32_t *stamp = NULL;
    int *lslot = NULL, *rslot = NULL;
    struct pq_vb vb;
    int rc = PROMQL_OK;
    pq_vb_init(&vb, c);
    size_t nmax = l->n + r->n;
    sg.sig = calloc(nmax ? nmax : 1, sizeof(*sg.sig));
    lsig = calloc(l->n ? l->n : 1, sizeof(int));
    rsig = calloc(r->n ? r->n : 1, sizeof(int));
    stamp = calloc(nmax ? nmax : 1, sizeof(*stamp));
    lslot = malloc((l->n ? l->n : 1) * sizeof(int));
    rslot = malloc((r->n ? r->n : 1) * sizeof(int));
    if (!sg.sig || !lsig || !rsig || !stamp || !lslot || !rslot) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = assign_sigs(c, e, l, &sg, lsig, true)) != 0 ||
        (rc = assign_sigs(c, e, r, &sg, rsig, true)) != 0)
        goto done;
    for (size_t k = 0; k < l->n; k++)
        lslot[k] = -1;
    for (size_t k = 0; k < r->n; k++)
        rslot[k] = -1;
    for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++) {
        /* stamp[sig] == i + 1: a series of the side looked up has this signature now. */
        uint32_t mark = (uint32_t)i + 1;
        const struct pq_value *probe = e->op == PQ_OR ? l : r;
        const int *psig = e->op == PQ_OR ? lsig : rsig;
        for (size_t k = 0; k < probe->n; k++)
            if (probe->s[k].ok[i])
                stamp[psig[k]] = mark;
        for (size_t k = 0; k < l->n && rc == PROMQL_OK; k++) {
            if (!l->s[k].ok[i])
                continue;
            bool keep = e->op == PQ_OR || (e->op == PQ_AND) == (stamp[lsig[k]] == mark);
            if (!keep)
                continue;
            if (lslot[k] < 0) {
                struct labelset ls;
                if (pq_ls_copy(&ls, &l->s[k].ls) != 0) {
                    rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                    break;
                }
                lslot[k] = pq_vb_slot(&vb, &ls);
                if (lslot[k] < 0) {
                    rc = lslot[k];
                    break;
                }
            }
            rc = pq_vb_put(&vb, lslot[k], i, l->s[k].v[i]);
        }
        if (e->op != PQ_OR)
            continue;
        for (size_t k = 0; k < r->n && rc == PROMQL_OK; k++) {
            if (!r->s[k].ok[i] || stamp[rsig[k]] == mark)
                continue;
            if (rslot[k] < 0) {
                struct labelset ls;
                if (pq_ls_copy(&ls, &r->s[k].ls) != 0) {
                    rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                    break;
                }
                rslot[k] = pq_vb_slot(&vb, &ls);
                if (rslot[k] < 0) {
                    rc = rslot[k];
                    break;
                }
            }
            rc = pq_vb_put(&vb, rslot[k], i, r->s[k].v[i]);
        }
    }
done:
    sigs_free(&sg);
    free(lsig);
    free(rsig);
    free(stamp);
    free(lslot);
    free(rslot);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

/* Prometheus's resultMetric: the labels of a match of many-side series m with one-side series o. */
static int result_labels(const struct promql_expr *e, const struct labelset *m,
                         const struct labelset *o, struct labelset *out)
{
    bool drop = drops_name(e->op) || e->ret_bool;
    int rc;
    if (e->card == CARD_ONE_TO_ONE) {
        if (e->on) {
            rc = pq_ls_copy_only(out, m, &e->match);
        } else {
            rc = pq_ls_copy_without(out, m, &e->match, drop);
            drop = false;
        }
    } else
        rc = pq_ls_copy(out, m);
    if (rc != 0)
        return -1;
    if (drop)
        pq_ls_del(out, "__name__");
    for (size_t i = 0; i < e->include.n; i++)
        if (pq_ls_set(out, e->include.v[i], labels_get(o, e->include.v[i])) != 0)
            return -1;
    return 0;
}

static int eval_vector_vector(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *lhs,
                              struct pq_value *rhs, struct pq_value *out)
{
    /* The "many" side is walked, the "one" side looked up; group_right swaps them. */
    bool swapped = e->card == CARD_ONE_TO_MANY;
    struct pq_value *many = swapped ? rhs : lhs, *one = swapped ? lhs : rhs;
    struct sigs sg = {0};
    int *msig = NULL, *osig = NULL, *present = NULL, *mslot = NULL, *mpartner = NULL;
    int *slot_sig = NULL;
    uint32_t *stamp = NULL, *gstamp = NULL, *slot_stamp = NULL;
    size_t slot_cap = 0;
    struct pq_vb vb;
    int rc = PROMQL_OK;
    pq_vb_init(&vb, c);
    sg.sig = calloc(one->n ? one->n : 1, sizeof(*sg.sig));
    msig = calloc(many->n ? many->n : 1, sizeof(int));
    osig = calloc(one->n ? one->n : 1, sizeof(int));
    present = calloc(one->n ? one->n : 1, sizeof(int));
    stamp = calloc(one->n ? one->n : 1, sizeof(uint32_t));
    gstamp = calloc(one->n ? one->n : 1, sizeof(uint32_t));
    mslot = malloc((many->n ? many->n : 1) * sizeof(int));
    mpartner = malloc((many->n ? many->n : 1) * sizeof(int));
    if (!sg.sig || !msig || !osig || !present || !stamp || !gstamp || !mslot || !mpartner) {
        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = assign_sigs(c, e, one, &sg, osig, true)) != 0 ||
        (rc = assign_sigs(c, e, many, &sg, msig, false)) != 0)
        goto done;
    for (size_t k = 0; k < many->n; k++)
        mslot[k] = mpartner[k] = -1;

    for (size_t i = 0; i < c->nsteps && rc == PROMQL_OK; i++) {
        uint32_t mark = (uint32_t)i + 1;
        /* The one side: at most one series per signature at this step. */
        for (size_t k = 0; k < one->n; k++) {
            if (!one->s[k].ok[i])
                continue;
            int g = osig[k];
            if (stamp[g] == mark) {
                char a[256], b[256], sig[256];
                ls_text(&sg.sig[g], sig, sizeof(sig));
                ls_text(&one->s[k].ls, a, sizeof(a));
                ls_text(&one->s[present[g]].ls, b, sizeof(b));
                rc = pq_fail(c, PROMQL_EEXEC,
                             "found duplicate series for the match group %s on the %s hand-side "
                             "of the operation: [%s, %s];many-to-many matching not allowed: "
                             "matching labels must be unique on one side",
                             sig, swapped ? "left" : "right", a, b);
                goto done;
            }
            stamp[g] = mark;
            present[g] = (int)k;
        }
        for (size_t k = 0; k < many->n && rc == PROMQL_OK; k++) {
            int g = msig[k];
            if (!many->s[k].ok[i] || g < 0 || stamp[g] != mark)
                continue;
            int o = present[g];
            double vl = many->s[k].v[i], vr = one->s[o].v[i];
            if (swapped) {
                double t = vl;
                vl = vr;
                vr = t;
            }
            bool keep;
            double v = elem_op(e->op, vl, vr, &keep);
            if (e->ret_bool) {
                v = keep ? 1 : 0;
                keep = true;
            }
            if (!keep)
                continue;
            if (e->card == CARD_ONE_TO_ONE) {
                if (gstamp[g] == mark) {
                    rc = pq_fail(c, PROMQL_EEXEC,
                                 "multiple matches for labels: many-to-one matching must be "
                                 "explicit (group_left/group_right)");
                    break;
                }
                gstamp[g] = mark;
            }
            /* The result labels depend on the pair; most steps reuse the last pair's. */
            if (mslot[k] < 0 || mpartner[k] != o) {
                struct labelset ls;
                if (result_labels(e, &many->s[k].ls, &one->s[o].ls, &ls) != 0) {
                    rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                    break;
                }
                int slot = pq_vb_slot(&vb, &ls);
                if (slot < 0) {
                    rc = slot;
                    break;
                }
                mslot[k] = slot;
                mpartner[k] = o;
                if ((size_t)slot >= slot_cap) {
                    size_t cap = slot_cap ? slot_cap * 2 : 16;
                    while (cap <= (size_t)slot)
                        cap *= 2;
                    uint32_t *ns = realloc(slot_stamp, cap * sizeof(*ns));
                    if (!ns) {
                        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                        break;
                    }
                    slot_stamp = ns;
                    int *nsg = realloc(slot_sig, cap * sizeof(*nsg));
                    if (!nsg) {
                        rc = pq_fail(c, PROMQL_ENOMEM, "out of memory");
                        break;
                    }
                    slot_sig = nsg;
                    memset(slot_stamp + slot_cap, 0, (cap - slot_cap) * sizeof(*ns));
                    slot_cap = cap;
                }
            }
            int slot = mslot[k];
            if (slot_stamp[slot] == mark && slot_sig[slot] == g) {
                rc = pq_fail(c, PROMQL_EEXEC,
                             "multiple matches for labels: grouping labels must ensure unique "
                             "matches");
                break;
            }
            slot_stamp[slot] = mark;
            slot_sig[slot] = g;
            rc = pq_vb_put(&vb, slot, i, v);
        }
    }
done:
    sigs_free(&sg);
    free(msig);
    free(osig);
    free(present);
    free(stamp);
    free(gstamp);
    free(mslot);
    free(mpartner);
    free(slot_stamp);
    free(slot_sig);
    if (rc) {
        pq_vb_free(&vb);
        return rc;
    }
    pq_vb_finish(&vb, out);
    return PROMQL_OK;
}

int pq_eval_binary(struct pq_ctx *c, const struct promql_expr *e, struct pq_value *out)
{
    struct pq_value l, r;
    memset(out, 0, sizeof(*out));
    int rc = pq_eval(c, e->a[0], &l);
    if (rc)
        return rc;
    rc = pq_eval(c, e->a[1], &r);
    if (rc) {
        pq_value_free(c, &l);
        return rc;
    }
    if (l.type == PROMQL_SCALAR && r.type == PROMQL_SCALAR)
        rc = eval_scalar_scalar(c, e, &l, &r, out);
    else if (l.type == PROMQL_VECTOR && r.type == PROMQL_SCALAR)
        rc = eval_vector_scalar(c, e, &l, r.sc, false, out);
    else if (l.type == PROMQL_SCALAR && r.type == PROMQL_VECTOR)
        rc = eval_vector_scalar(c, e, &r, l.sc, true, out);
    else if (pq_op_is_set(e->op))
        rc = eval_set_op(c, e, &l, &r, out);
    else
        rc = eval_vector_vector(c, e, &l, &r, out);
    pq_value_free(c, &l);
    pq_value_free(c, &r);
    return rc;
}
