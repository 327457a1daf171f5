/*
 * FP16 support shared by the CUDA backend's kernels (C++ only).
 *
 * With --precision fp16 the plan stores every floating activation as IEEE
 * half (VP_DT_FLOAT16, __half on the device). Kernels keep one template per
 * operation and instantiate it for a storage type T; arithmetic always
 * happens in the compute type vp_ct<T> (float for __half, T itself
 * otherwise):
 *   - vp_ld(v): storage -> compute (exact);
 *   - vp_st<T>(v): compute -> storage, rounding to nearest even for __half
 *     (a plain conversion otherwise).
 * So an FP16 result is the FP32 formula rounded once on store, and FP32
 * kernels compile to exactly what they were.
 *
 * vp_vec<T, N> is N elements moved as one aligned word (16 bytes for the
 * packs of the elementwise and copy paths): callers check that the pointer
 * is aligned to sizeof(vp_vec) before taking the vector path, and fall back
 * to scalar code otherwise.
 */
#ifndef VP_ENGINE_CUDA_HALF_CUH
#define VP_ENGINE_CUDA_HALF_CUH

#include <cuda_fp16.h>
#include <stdint.h>
#include <type_traits>

template <class T> constexpr bool vp_is_half = std::is_same<T, __half>::value;

/* Compute type of a storage type. */
template <class T> struct vp_ct_of { typedef T type; };
template <> struct vp_ct_of<__half> { typedef float type; };
template <class T> using vp_ct = typename vp_ct_of<T>::type;

template <class T> static __device__ __forceinline__ vp_ct<T> vp_ld(T v)
{
    if constexpr (vp_is_half<T>)
        return __half2float(v);
    else
        return v;
}

/* Store a computed value as T (from its compute type, or any arithmetic
 * type convertible to it). */
template <class T, class V> static __device__ __forceinline__ T vp_st(V v)
{
    if constexpr (vp_is_half<T> && std::is_same<V, double>::value)
        return __double2half(v); /* one rounding, not double -> float -> half */
    else if constexpr (vp_is_half<T>)
        return __float2half_rn((float)v);
    else
        return (T)v;
}

/* N elements of T as one aligned word. */
template <class T, int N> struct alignas(sizeof(T) * N) vp_vec {
    T e[N];
};

/* Elements of T per 16-byte pack. */
template <class T> constexpr int vp_pack_n = (int)(16 / sizeof(T));

static inline bool vp_aligned(const void *p, size_t a) { return ((uintptr_t)p % a) == 0; }

/* Load / store N consecutive elements at p (aligned to N * sizeof(T)) as
 * compute values. */
template <class T, int N> static __device__ __forceinline__ void vp_ldv(const T *p, vp_ct<T> (&v)[N])
{
    const vp_vec<T, N> w = *reinterpret_cast<const vp_vec<T, N> *>(p);
#pragma unroll
    for (int k = 0; k < N; k++)
        v[k] = vp_ld(w.e[k]);
}

template <class T, int N> static __device__ __forceinline__ void vp_stv(T *p, const vp_ct<T> (&v)[N])
{
    vp_vec<T, N> w;
#pragma unroll
    for (int k = 0; k < N; k++)
        w.e[k] = vp_st<T>(v[k]);
    *reinterpret_cast<vp_vec<T, N> *>(p) = w;
}

#endif
