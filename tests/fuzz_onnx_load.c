/*
 * libFuzzer target for the ONNX loader: any byte string must either load or
 * fail with a status and a message, never crash, leak or read out of bounds.
 * A model that loads is also planned with its declared input shapes (symbolic
 * dimensions set to 1), which exercises shape inference and constant folding
 * on hostile graphs.
 */
#include "vidpipe/engine.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vp_engine *e = NULL;
    char err[1024];
    vp_engine_options opt;
    vp_engine_options_default(&opt);
    opt.num_threads = 1;
    opt.max_tensor_bytes = 64u << 20;
    if (vp_engine_load_memory(data, size, NULL, &opt, &e, err, sizeof err) != VP_OK)
        return 0;
    int n = vp_engine_num_inputs(e);
    vp_shape shapes[16];
    int ok = n <= 16;
    for (int i = 0; i < n && ok; i++) {
        vp_engine_input_info(e, i, NULL, NULL, &shapes[i]);
        int64_t numel = 1;
        for (int d = 0; d < shapes[i].rank; d++) {
            if (shapes[i].d[d] < 0)
                shapes[i].d[d] = 1;
            numel *= shapes[i].d[d] ? shapes[i].d[d] : 1;
            ok = ok && numel <= (1 << 20);
        }
    }
    vp_plan *p;
    if (ok)
        (void)vp_engine_plan(e, shapes, &p);
    vp_engine_free(&e);
    return 0;
}
