/* The multi-stream pipeline runtime (see vidpipe/pipeline.h). */
#include "vidpipe/pipeline.h"
