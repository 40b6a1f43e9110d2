/*
 * The glue of a one-token Gemma 3 decode step in bf16 on a CPU, one call where PyTorch takes many.
 *
 * Between its four matrix products a Gemma 3 layer runs about thirty small tensor operations on
 * vectors of a few hundred elements (norms, rotary embedding, cache writes, attention over the
 * cache, residual adds). Each costs PyTorch's fixed dispatch overhead, which at batch 1 on a CPU
 * adds up to a third of the step. These functions do the same arithmetic with the same roundings
 * (fp32 inside, bf16 wherever PyTorch stores a bf16 tensor), so that their results match PyTorch's
 * up to the order of fp32 sums.
 *
 * bf16 values travel as uint16_t. Built by genai/backends/native.py with the compiler's
 * optimisation for the machine it runs on; OpenMP runs on the runtime PyTorch already loaded.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

typedef uint16_t bf16;

static inline float to_f32(bf16 v) {
    union { uint32_t u; float f; } c;
    c.u = (uint32_t)v << 16;
    return c.f;
}

/* Round to nearest even, as c10::BFloat16 does. */
static inline bf16 to_bf16(float f) {
    union { uint32_t u; float f; } c;
    c.f = f;
    if (f != f) return (bf16)0x7fc0;
    return (bf16)((c.u + 0x7fffu + ((c.u >> 16) & 1u)) >> 16);
}

/*
 * Sums run in LANES independent partial sums, which the compiler turns into vector registers
 * (a single running sum would have to stay scalar: fp32 addition is not associative).
 */
#define LANES 16

static inline float sum_lanes(const float *lanes) {
    float s = 0.0f;
    for (int l = 0; l < LANES; l++) s += lanes[l];
    return s;
}

/* 1 / rms of n fp32 values (the statistic of F.rms_norm). */
static inline float inv_rms(const float *v, int64_t n, float eps) {
    float lanes[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) lanes[l] += v[i + l] * v[i + l];
    float sum = sum_lanes(lanes);
    for (; i < n; i++) sum += v[i] * v[i];
    return 1.0f / sqrtf(sum / (float)n + eps);
}

/* q . k for fp32 q and bf16 k of length n. */
static inline float dot_bf16(const float *q, const bf16 *k, int64_t n) {
    float lanes[LANES] = {0};
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++) lanes[l] += q[j + l] * to_f32(k[j + l]);
    float sum = sum_lanes(lanes);
    for (; j < n; j++) sum += q[j] * to_f32(k[j]);
    return sum;
}

/* out = bf16(rms_norm(x) * scale) for one vector of n. */
static void norm_into(const bf16 *x, const float *scale, bf16 *out, int64_t n, float eps, float *tmp) {
    for (int64_t i = 0; i < n; i++) tmp[i] = to_f32(x[i]);
    float r = inv_rms(tmp, n, eps);
    for (int64_t i = 0; i < n; i++) out[i] = to_bf16(tmp[i] * r * scale[i]);
}

/* out = bf16(rms_norm(x) * scale); n at most 65536. */
int copyloop_rms_norm(const bf16 *x, const float *scale, bf16 *out, int64_t n, float eps) {
    float *tmp = (float *)malloc(sizeof(float) * (size_t)n);
    if (!tmp) return -1;
    norm_into(x, scale, out, n, eps, tmp);
    free(tmp);
    return 0;
}

/*
 * h = h + bf16(rms_norm(y) * post_scale), then, when next_scale is given,
 * x_next = bf16(rms_norm(h) * next_scale): a sublayer's output norm, the residual add and the
 * next sublayer's input norm.
 */
int copyloop_residual_norms(bf16 *h, const bf16 *y, const float *post_scale, float post_eps,
                            const float *next_scale, float next_eps, bf16 *x_next, int64_t n) {
    float *tmp = (float *)malloc(sizeof(float) * (size_t)n * 2);
    if (!tmp) return -1;
    float *normed = tmp + n;
    for (int64_t i = 0; i < n; i++) tmp[i] = to_f32(y[i]);
    float r = inv_rms(tmp, n, post_eps);
    for (int64_t i = 0; i < n; i++) {
        float added = to_f32(to_bf16(tmp[i] * r * post_scale[i]));
        bf16 sum = to_bf16(to_f32(h[i]) + added);
        h[i] = sum;
        normed[i] = to_f32(sum);
    }
    if (next_scale) {
        float rn = inv_rms(normed, n, next_eps);
        for (int64_t i = 0; i < n; i++) x_next[i] = to_bf16(normed[i] * rn * next_scale[i]);
    }
    free(tmp);
    return 0;
}

/*
 * One query token of one sequence through a Gemma 3 attention block, after the fused q/k/v product:
 *
 *   qkv         [heads + 2 * kv_heads, d]: the product's output
 *   head_scale  [heads + kv_heads, d] fp32: each head's norm weight (1 + w; the query's times the
 *               attention scale); eps: the norms' epsilon
 *   cos, sin    [d]: this position's rotary tables (sin sign-folded: rotate_half(x) * sin equals
 *               roll(x, d / 2) * sin_folded)
 *   keys, values [kv_heads, total, d]: this layer's cache; the new key and value go to `slot`
 *   mask        [end] additive bf16 mask over cache slots 0 .. end - 1 (slot included)
 *   out         [heads, d]: the attention output, heads side by side
 *
 * Scores are rounded to bf16, softmax runs in fp32 and its weights are rounded to bf16, as
 * PyTorch's two bf16 products around an fp32 softmax do.
 */
int copyloop_attention_step(const bf16 *qkv, const float *head_scale, float eps, const bf16 *cos,
                            const bf16 *sin, bf16 *keys, bf16 *values, int64_t slot, int64_t end,
                            int64_t total, const bf16 *mask, bf16 *out, int64_t heads,
                            int64_t kv_heads, int64_t d, int threads) {
    if (heads % kv_heads != 0 || end > total || slot >= end) return -2;
    int64_t group = heads / kv_heads, half = d / 2;
    size_t floats = (size_t)((heads + kv_heads) * d + heads * end + 2 * d + group * d);
    float *buf = (float *)malloc(sizeof(float) * floats);
    if (!buf) return -1;
    float *rotated = buf;                              /* [heads + kv_heads, d] */
    float *scores = rotated + (heads + kv_heads) * d;  /* [heads, end] */
    float *tmp = scores + heads * end;                 /* [2 d] */
    float *acc = tmp + 2 * d;                          /* [group, d] */

    /* query and key heads: norm, scale, rotate (each step rounded to bf16 as PyTorch stores it) */
    for (int64_t hh = 0; hh < heads + kv_heads; hh++) {
        const bf16 *v = qkv + hh * d;
        for (int64_t j = 0; j < d; j++) tmp[j] = to_f32(v[j]);
        float r = inv_rms(tmp, d, eps);
        for (int64_t j = 0; j < d; j++) tmp[d + j] = to_f32(to_bf16(tmp[j] * r * head_scale[hh * d + j]));
        for (int64_t j = 0; j < d; j++) {
            float a = to_f32(to_bf16(tmp[d + j] * to_f32(cos[j])));
            float b = to_f32(to_bf16(tmp[d + (j + half) % d] * to_f32(sin[j])));
            rotated[hh * d + j] = to_f32(to_bf16(a + b));
        }
    }
    for (int64_t g = 0; g < kv_heads; g++) {
        bf16 *krow = keys + (g * total + slot) * d;
        bf16 *vrow = values + (g * total + slot) * d;
        for (int64_t j = 0; j < d; j++) {
            krow[j] = to_bf16(rotated[(heads + g) * d + j]);
            vrow[j] = qkv[(heads + kv_heads + g) * d + j];
        }
    }

    int nt = threads > 0 ? threads : 1;
#pragma omp parallel num_threads(nt)
    {
        /* scores: each key row is read once for the query heads that share it */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < end; t++) {
            float m = to_f32(mask[t]);
            for (int64_t g = 0; g < kv_heads; g++) {
                const bf16 *krow = keys + (g * total + t) * d;
                for (int64_t q = g * group; q < (g + 1) * group; q++) {
                    float s = dot_bf16(rotated + q * d, krow, d);
                    scores[q * end + t] = to_f32(to_bf16(to_f32(to_bf16(s)) + m));
                }
            }
        }
        /* softmax per head, weights rounded to bf16 */
#pragma omp for schedule(static)
        for (int64_t q = 0; q < heads; q++) {
            float *s = scores + q * end;
            float top = -INFINITY, sum = 0.0f;
            for (int64_t t = 0; t < end; t++) top = s[t] > top ? s[t] : top;
            for (int64_t t = 0; t < end; t++) {
                s[t] = expf(s[t] - top);
                sum += s[t];
            }
            for (int64_t t = 0; t < end; t++) s[t] = to_f32(to_bf16(s[t] / sum));
        }
        /* weighted values: each thread a slice of the head dimension, all heads and slots */
        int me = omp_get_thread_num(), count = omp_get_num_threads();
        int64_t j0 = d * me / count, j1 = d * (me + 1) / count;
        for (int64_t g = 0; g < kv_heads; g++) {
            for (int64_t q = 0; q < group; q++)
                for (int64_t j = j0; j < j1; j++) acc[q * d + j] = 0.0f;
            for (int64_t t = 0; t < end; t++) {
                const bf16 *vrow = values + (g * total + t) * d;
                for (int64_t q = 0; q < group; q++) {
                    float w = scores[(g * group + q) * end + t];
                    if (w == 0.0f) continue;
                    float *a = acc + q * d;
                    for (int64_t j = j0; j < j1; j++) a[j] += w * to_f32(vrow[j]);
                }
            }
            for (int64_t q = 0; q < group; q++)
                for (int64_t j = j0; j < j1; j++) out[(g * group + q) * d + j] = to_bf16(acc[q * d + j]);
        }
    }
    free(buf);
    return 0;
}
