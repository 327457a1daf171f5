/* Pipeline configuration: JSON parsing and validation (see vidpipe/pipeline.h). */
#include "vidpipe/pipeline.h"
