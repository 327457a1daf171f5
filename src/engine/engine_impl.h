/* Engine and plan internals. */
#ifndef VP_ENGINE_IMPL_H
#define VP_ENGINE_IMPL_H

#include "engine/graph.h"
#include "engine/ops.h"

/* Where a value's bytes live under a plan. */
enum {
    VP_STORE_NONE = 0,  /* not needed by this plan */
    VP_STORE_CONST,     /* constant: initializer (borrowed) or folded (owned) */
    VP_STORE_INPUT,     /* graph input: caller's buffer, bound per run */
    VP_STORE_OUTPUT,    /* graph output written in place: caller's buffer, bound per run */
    VP_STORE_ARENA,     /* intermediate: arena + offset */
    VP_STORE_VIEW,      /* bytes of value `alias` at `offset`: Reshape, Flatten..., or a
                           Concat input written in place into the Concat's output */
};

typedef struct vp_pval {
    vp_tensor t;        /* dtype, concrete shape, data (bound per run for INPUT/OUTPUT/VIEW) */
    int store;
    int owned;          /* host data malloc'd by the plan (folded constants) */
    void *host;         /* constants on a non-host backend: the host copy (t.data is the device's) */
    int alias;          /* VP_STORE_VIEW: value whose bytes these are (a root once planned) */
    int64_t offset;     /* VP_STORE_ARENA: offset in the arena; VP_STORE_VIEW: offset in alias */
    int64_t pix;        /* channel slice (a VIEW): elements between its pixels, the root's
                           channel count; 0 = dense */
    int first, last;    /* step index of definition and last use (lifetime) */
    int consumers;      /* active consumers under this plan */
} vp_pval;

typedef struct vp_step {
    int node;                   /* index in plan->nodes */
    const vp_kernel *k;
    int skip;                   /* nothing to do: its work happened in place (Concat) */
    void *state;
    double ns;                  /* profiling: time spent in runs */
    long runs;
    const vp_tensor **in;       /* -> pval tensors */
    char *in_const;             /* per input: constant */
    vp_tensor **out;
    int64_t *pix;               /* n_in + n_out pixel strides where a channel slice is
                                   read or written (vp_op_ctx.in_pix), else NULL */
} vp_step;

struct vp_plan {
    vp_engine *e;
    vp_shape *in_shapes;
    int has_fixed;              /* some inputs fixed at plan time: never reused */
    vp_node *nodes;             /* shallow copies of the graph's nodes; in/out owned */
    int n_nodes;
    int *active;                /* node runs as a step */
    vp_pval *v;
    int n_v, cap_v;
    vp_step *steps;
    int n_steps;
    const int *no_slices;       /* nodes (indices) whose kernel refused a channel slice */
    int n_no_slices;            /* -1: no slices at all */
    int slice_refused;          /* prepare: the node that refused one, or -1 */
    int *views;                 /* view value ids in definition order */
    int n_views;
    void *arena;                /* backend memory */
    size_t arena_bytes;
    void *consts;               /* backend copies of constants (non-host backends) */
    void *scratch;              /* shared by all steps (vp_op_ctx.scratch) */
    size_t scratch_bytes;
    size_t const_bytes;
    void *be_state;             /* backend's per-plan state (captured graph) */
    void **owned;               /* allocations of passes (attributes of rewritten nodes) */
    int n_owned, cap_owned;
    struct vp_plan *next;
};

struct vp_engine {
    vp_graph g;
    vp_engine_options opt;
    vp_cpu_ctx *cpu;            /* always: constant folding runs on the CPU */
    const struct vp_backend *be;/* the backend plans run on */
    void *bctx;                 /* its context (== cpu for the CPU backend) */
    void *plugin;               /* dlopen handle of a backend plugin, or NULL */
    uint64_t model_hash;        /* FNV-1a 64 of the model file's bytes */
    vp_plan *plans;
    char err[1024];
};

int vp_engine_set_error(vp_engine *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Passes over a plan whose shapes are inferred and constants folded. */
int vp_plan_passes(vp_plan *p);
/* Layout (channels-last) and precision (FP16) rewrites, after the passes:
 * they insert Transpose/Cast nodes and retype values (layout.c). */
int vp_plan_layout(vp_plan *p);
int vp_plan_precision(vp_plan *p);

/* Helpers for passes (plan.c). New values get no storage class yet; new
 * nodes are active and placed before node index `at`. Return -1 / NULL on
 * out of memory. */
int vp_plan_new_value(vp_plan *p, vp_dtype dt, const vp_shape *s);
int vp_plan_new_const(vp_plan *p, vp_dtype dt, const vp_shape *s);
int vp_plan_insert_node(vp_plan *p, int at, const vp_node *proto);
void *vp_plan_alloc(vp_plan *p, size_t bytes);
/* Value v is an output of the model. */
int vp_plan_is_graph_output(const vp_plan *p, int v);

#endif
