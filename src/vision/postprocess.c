/* YOLO post-processing, CPU implementation (see postprocess.h). */
#include "vision/postprocess.h"
