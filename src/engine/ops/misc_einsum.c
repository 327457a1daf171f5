/*
 * Einsum equation parsing, shared by shape inference and the CPU kernel
 * (cpu/misc_einsum.c).
 *
 * The equation is "term,term,...[->out]" with letter labels and at most one
 * "..." per term; spaces are ignored. Ellipsis dimensions are aligned right
 * and broadcast across inputs (numpy rules; an explicit output must then
 * keep "..."). Without "->" the output is the
 * ellipsis dimensions followed by the labels that occur exactly once, in
 * ASCII order (numpy's implicit mode). A label repeated within a term takes
 * that term's diagonal. Labels not in the output are summed.
 */
#include "engine/ops/misc.h"

#include <string.h>

#define N_LETTERS 52
#define MAX_EQ 512

/* ASCII order: 'A'..'Z' then 'a'..'z' */
static char label_char(int l)
{
    return l < 26 ? (char)('A' + l) : l < N_LETTERS ? (char)('a' + l - 26) : '.';
}

static int letter_id(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return 26 + ch - 'a';
    return -1;
}

/* One parsed term: letter ids with -1 marking where "..." stands. */
typedef struct term {
    int lab[VP_MAX_DIMS + 1];
    int n;        /* entries in lab, the ellipsis marker included */
    int ell;      /* 1 if the term has "..." */
} term;

static int parse_term(vp_op_ctx *c, const char *s, size_t len, term *t)
{
    t->n = 0;
    t->ell = 0;
    for (size_t i = 0; i < len;) {
        if (s[i] == '.') {
            if (i + 3 > len || s[i + 1] != '.' || s[i + 2] != '.' || t->ell)
                return vp_op_fail(c, VP_ERR_INVALID, "equation: malformed or repeated '...'");
            t->ell = 1;
            if (t->n > VP_MAX_DIMS)
                return vp_op_fail(c, VP_ERR_INVALID, "equation: term has too many labels");
            t->lab[t->n++] = -1;
            i += 3;
            continue;
        }
        int id = letter_id(s[i]);
        if (id < 0)
            return vp_op_fail(c, VP_ERR_INVALID, "equation: unexpected character '%c'", s[i]);
        if (t->n > VP_MAX_DIMS)
            return vp_op_fail(c, VP_ERR_INVALID, "equation: term has too many labels");
        t->lab[t->n++] = id;
        i++;
    }
    return VP_OK;
}

int vp_misc_einsum_plan(vp_op_ctx *c, vp_einsum_plan *p)
{
    const char *eq = vp_attr_s(c->node, "equation", NULL);
    char buf[MAX_EQ];
    size_t len = 0;
    term terms[VP_EINSUM_MAX_IN], outt;
    memset(p, 0, sizeof *p);
    if (!eq)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute equation is required");
    for (const char *s = eq; *s; s++) {
        if (*s == ' ' || *s == '\t')
            continue;
        if (len + 1 >= sizeof buf)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute equation is too long");
        buf[len++] = *s;
    }
    buf[len] = 0;
    if (c->n_in > VP_EINSUM_MAX_IN)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "more than %d inputs", VP_EINSUM_MAX_IN);
    const char *arrow = strstr(buf, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - buf) : len;

    /* input terms */
    int nt = 0;
    size_t start = 0;
    for (size_t i = 0; i <= lhs_len; i++) {
        if (i < lhs_len && buf[i] != ',')
            continue;
        if (nt >= c->n_in)
            return vp_op_fail(c, VP_ERR_INVALID, "equation '%s' has more terms than the %d inputs", eq, c->n_in);
        int rc = parse_term(c, buf + start, i - start, &terms[nt]);
        if (rc)
            return rc;
        nt++;
        start = i + 1;
    }
    if (nt != c->n_in)
        return vp_op_fail(c, VP_ERR_INVALID, "equation '%s' has %d terms for %d inputs", eq, nt, c->n_in);

    /* ellipsis width per input and overall */
    int ne[VP_EINSUM_MAX_IN], E = 0;
    for (int t = 0; t < nt; t++) {
        int letters = terms[t].n - terms[t].ell, r = c->in[t]->shape.rank;
        ne[t] = terms[t].ell ? r - letters : 0;
        if (ne[t] < 0 || (!terms[t].ell && letters != r))
            return vp_op_fail(c, VP_ERR_SHAPE, "equation term %d has %d labels for input of rank %d", t, letters, r);
        if (ne[t] > E)
            E = ne[t];
    }

    /* label extents (size-1 dims broadcast) and occurrence counts */
    int64_t size[N_LETTERS + VP_MAX_DIMS];
    int count[N_LETTERS + VP_MAX_DIMS];
    for (int l = 0; l < N_LETTERS + VP_MAX_DIMS; l++) {
        size[l] = -1;
        count[l] = 0;
    }
    /* dim_lab[t][k]: label of dimension k of input t */
    int dim_lab[VP_EINSUM_MAX_IN][VP_MAX_DIMS];
    for (int t = 0; t < nt; t++) {
        int k = 0;
        for (int j = 0; j < terms[t].n; j++) {
            if (terms[t].lab[j] >= 0) {
                dim_lab[t][k++] = terms[t].lab[j];
                continue;
            }
            for (int e = 0; e < ne[t]; e++)
                dim_lab[t][k++] = N_LETTERS + (E - ne[t]) + e;
        }
        for (k = 0; k < c->in[t]->shape.rank; k++) {
            int l = dim_lab[t][k];
            int64_t d = c->in[t]->shape.d[k];
            count[l]++;
            if (size[l] < 0 || size[l] == 1)
                size[l] = d;
            else if (d != size[l] && d != 1)
                return vp_op_fail(c, VP_ERR_SHAPE, "equation label '%c' has extents %lld and %lld",
                                  label_char(l), (long long)size[l],
                                  (long long)d);
        }
    }

    /* output labels */
    int out_lab[N_LETTERS + VP_MAX_DIMS], n_out = 0;
    if (arrow) {
        int rc = parse_term(c, arrow + 2, len - lhs_len - 2, &outt);
        if (rc)
            return rc;
        /* numpy's rule: broadcast dimensions must appear in an explicit output */
        if (E > 0 && !outt.ell)
            return vp_op_fail(c, VP_ERR_INVALID, "equation '%s': output needs '...' for the inputs' broadcast dims",
                              eq);
        for (int j = 0; j < outt.n; j++) {
            if (outt.lab[j] < 0) {
                for (int e = 0; e < E; e++)
                    out_lab[n_out++] = N_LETTERS + e;
                continue;
            }
            int l = outt.lab[j];
            if (!count[l])
                return vp_op_fail(c, VP_ERR_INVALID, "equation output label '%c' is in no input", label_char(l));
            for (int q = 0; q < n_out; q++)
                if (out_lab[q] == l)
                    return vp_op_fail(c, VP_ERR_INVALID, "equation output repeats a label");
            out_lab[n_out++] = l;
        }
    } else {
        for (int e = 0; e < E; e++)
            out_lab[n_out++] = N_LETTERS + e;
        for (int l = 0; l < N_LETTERS; l++)
            if (count[l] == 1)
                out_lab[n_out++] = l;
    }
    if (n_out > VP_MAX_DIMS)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "output rank %d exceeds %d", n_out, VP_MAX_DIMS);

    /* compact numbering: output labels, then summed ones */
    int compact[N_LETTERS + VP_MAX_DIMS];
    for (int l = 0; l < N_LETTERS + VP_MAX_DIMS; l++)
        compact[l] = -1;
    for (int q = 0; q < n_out; q++) {
        compact[out_lab[q]] = p->n_labels;
        p->size[p->n_labels++] = size[out_lab[q]] < 0 ? 1 : size[out_lab[q]];
    }
    p->n_out_labels = n_out;
    for (int l = 0; l < N_LETTERS + VP_MAX_DIMS; l++)
        if (count[l] && compact[l] < 0) {
            compact[l] = p->n_labels;
            p->size[p->n_labels++] = size[l];
        }
    p->n_in = nt;
    for (int t = 0; t < nt; t++) {
        const vp_shape *s = &c->in[t]->shape;
        int64_t st = 1;
        for (int k = s->rank - 1; k >= 0; k--) {
            int l = compact[dim_lab[t][k]];
            if (!(s->d[k] == 1 && p->size[l] != 1))
                p->stride[t][l] += st;
            st *= s->d[k];
        }
    }
    p->out_shape.rank = n_out;
    for (int q = 0; q < n_out; q++)
        p->out_shape.d[q] = p->size[q];
    return VP_OK;
}
