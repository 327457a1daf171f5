/* ONNX file reading: models into vp_graph, TensorProto files into tensors. */
#ifndef VP_ENGINE_ONNX_LOAD_H
#define VP_ENGINE_ONNX_LOAD_H

#include "engine/graph.h"

/* Newest default-domain opset the engine accepts. */
#define VP_MAX_OPSET 21

/* Parse a serialized ModelProto into g (zeroed first). src names the model in
 * messages; base_dir resolves external data (NULL: not allowed). On failure
 * g is left empty and err holds one line. */
int vp_graph_load_memory(const void *data, size_t size, const char *src, const char *base_dir, vp_graph *g,
                         char *err, size_t errlen);
/* Whole file into a malloc'd buffer. */
int vp_read_file(const char *path, void **data, size_t *size, char *err, size_t errlen);
/* A TensorProto file (as in ONNX's node tests) into a new tensor. */
int vp_tensor_load_pb(const char *path, vp_tensor **out, char *err, size_t errlen);

/* internal: loader-context variant used by the loader itself */
int vp__tensor_from_proto_l(void *loader, const void *proto, vp_tensor **out);
int vp_tensor_from_proto(const void *proto, const char *base_dir, vp_tensor **out, char *err, size_t errlen);

#endif
