/* YOLO post-processing, CUDA implementation (see vision/postprocess.h). */
#include "vision/postprocess.h"
