/*
 * A one-token, one-sequence Gemma 3 decode step in bf16 on a CPU: a whole layer in one call.
 *
 * At batch 1 a layer is four matrix-vector products and some thirty small operations on vectors
 * of a few hundred elements (norms, rotary embedding, cache write, attention over the cache,
 * activation, residual adds). PyTorch dispatches each of those separately, at a fixed cost that on
 * a CPU adds up to a third of the step. `copyloop_layer_step` runs the layer in one parallel
 * region: the products split by output rows over the threads (with AVX512-BF16 each instruction
 * multiplies 32 weights), the attention by cache slots and head dimensions, the vector work on
 * one thread. Roundings follow PyTorch's: fp32 inside, bf16 wherever PyTorch stores a bf16 tensor,
 * so results match its own up to the order of fp32 sums.
 *
 * bf16 values travel as uint16_t. Built by genai/backends/native.py with the compiler's
 * optimisation for the machine it runs on; OpenMP runs on the runtime PyTorch already loaded.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>
#endif

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

/* out = bf16(rms_norm(x) * scale) for one vector. */
int copyloop_rms_norm(const bf16 *x, const float *scale, bf16 *out, int64_t n, float eps) {
    float *tmp = (float *)malloc(sizeof(float) * (size_t)n);
    if (!tmp) return -1;
    norm_into(x, scale, out, n, eps, tmp);
    free(tmp);
    return 0;
}

/* y[r] = bf16(w[r, :] . x) for rows r0 .. r1 - 1 of a [*, k] weight. */
#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#define ROW_BLOCK 4
static void gemv_rows(const bf16 *w, const bf16 *x, bf16 *y, int64_t r0, int64_t r1, int64_t k) {
    int64_t full = k & ~(int64_t)31;
    __mmask32 tail = (__mmask32)((1ull << (k - full)) - 1ull);
    for (int64_t r = r0; r < r1; r += ROW_BLOCK) {
        int rows = (r1 - r) < ROW_BLOCK ? (int)(r1 - r) : ROW_BLOCK;
        __m512 acc[ROW_BLOCK];
        for (int i = 0; i < ROW_BLOCK; i++) acc[i] = _mm512_setzero_ps();
        for (int64_t j = 0; j < full; j += 32) {
            __m512bh xv = (__m512bh)_mm512_loadu_si512(x + j);
            for (int i = 0; i < rows; i++)
                acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)_mm512_loadu_si512(w + (r + i) * k + j), xv);
        }
        if (full < k) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(tail, x + full);
            for (int i = 0; i < rows; i++) {
                __m512i wv = _mm512_maskz_loadu_epi16(tail, w + (r + i) * k + full);
                acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)wv, xv);
            }
        }
        for (int i = 0; i < rows; i++) y[r + i] = to_bf16(_mm512_reduce_add_ps(acc[i]));
    }
}
#else
#define ROW_BLOCK 1
static void gemv_rows(const bf16 *w, const bf16 *x, bf16 *y, int64_t r0, int64_t r1, int64_t k) {
    for (int64_t r = r0; r < r1; r++) {
        const bf16 *row = w + r * k;
        float lanes[LANES] = {0};
        int64_t j = 0;
        for (; j + LANES <= k; j += LANES)
            for (int l = 0; l < LANES; l++) lanes[l] += to_f32(x[j + l]) * to_f32(row[j + l]);
        float sum = sum_lanes(lanes);
        for (; j < k; j++) sum += to_f32(x[j]) * to_f32(row[j]);
        y[r] = to_bf16(sum);
    }
}
#endif

/* This thread's share of y = w @ x for an [n, k] weight: contiguous rows, whole blocks. */
static void gemv_share(const bf16 *w, const bf16 *x, bf16 *y, int64_t n, int64_t k) {
    int64_t me = omp_get_thread_num(), count = omp_get_num_threads();
    int64_t blocks = (n + ROW_BLOCK - 1) / ROW_BLOCK;
    int64_t r0 = blocks * me / count * ROW_BLOCK, r1 = blocks * (me + 1) / count * ROW_BLOCK;
    if (r1 > n) r1 = n;
    if (r0 < r1) gemv_rows(w, x, y, r0, r1, k);
}

/* h = h + bf16(rms_norm(y) * scale), rounded to bf16 as PyTorch's residual add is. */
static void add_normed(bf16 *h, const bf16 *y, const float *scale, float eps, int64_t n, float *tmp) {
    for (int64_t i = 0; i < n; i++) tmp[i] = to_f32(y[i]);
    float r = inv_rms(tmp, n, eps);
    for (int64_t i = 0; i < n; i++) h[i] = to_bf16(to_f32(h[i]) + to_f32(to_bf16(tmp[i] * r * scale[i])));
}

/* gelu (tanh approximation) of the gate times the up projection, each result rounded to bf16. */
static inline bf16 gelu_times(bf16 gate, bf16 up) {
    float g = to_f32(gate);
    float inner = 0.7978845608028654f * (g + 0.044715f * g * g * g);
    float act = to_f32(to_bf16(0.5f * g * (1.0f + tanhf(inner))));
    return to_bf16(act * to_f32(up));
}

/* The weights and norms of one layer; the Python side fills it once per decoder. */
typedef struct {
    const bf16 *qkv;     /* [(heads + 2 kv_heads) head_dim, hidden] */
    const bf16 *o;       /* [hidden, heads head_dim] */
    const bf16 *gate_up; /* [2 intermediate, hidden] */
    const bf16 *down;    /* [hidden, intermediate] */
    const float *input_scale, *post_attention_scale, *pre_feedforward_scale, *post_feedforward_scale;
    const float *head_scale; /* [heads + kv_heads, head_dim]: 1 + w, the query's times the attention scale */
    float input_eps, post_attention_eps, pre_feedforward_eps, post_feedforward_eps, head_eps;
    int64_t hidden, heads, kv_heads, head_dim, intermediate;
} copyloop_layer;

/*
 * h (the residual stream, [hidden]) through one layer, in place:
 *
 *   cos, sin     [head_dim]: this position's rotary tables (sin sign-folded: rotate_half(x) * sin
 *                equals roll(x, head_dim / 2) * sin_folded)
 *   keys, values [kv_heads, total, head_dim]: the layer's cache; the new key and value go to `slot`
 *   mask         [end]: additive bf16 mask over cache slots 0 .. end - 1 (`slot` among them)
 *
 * Attention scores are rounded to bf16, the softmax runs in fp32 and its weights are rounded to
 * bf16, as PyTorch's two bf16 products around an fp32 softmax do.
 */
int copyloop_layer_step(const copyloop_layer *L, bf16 *h, const bf16 *cos, const bf16 *sin, bf16 *keys,
                        bf16 *values, int64_t slot, int64_t end, int64_t total, const bf16 *mask,
                        int threads) {
    const int64_t heads = L->heads, kv = L->kv_heads, d = L->head_dim, hidden = L->hidden;
    const int64_t inter = L->intermediate, half = d / 2;
    if (kv < 1 || heads % kv != 0 || end > total || slot >= end || slot < 0) return -2;
    const int64_t group = heads / kv, qkv_rows = (heads + 2 * kv) * d;
    int64_t widest = hidden > d ? hidden : d;

    size_t halfs = (size_t)(3 * hidden + qkv_rows + heads * d + 3 * inter);
    int team = threads > 0 ? threads : 1;
    /* each thread's attention sums apart from the others' by a cache line: no false sharing */
    int64_t own = group * d + 16;
    size_t floats = (size_t)((heads + kv) * d + heads * end + 2 * widest + team * own);
    bf16 *hb = (bf16 *)malloc(sizeof(bf16) * halfs);
    float *fb = (float *)malloc(sizeof(float) * floats);
    if (!hb || !fb) {
        free(hb);
        free(fb);
        return -1;
    }
    bf16 *x = hb, *qkv = x + hidden, *attended = qkv + qkv_rows, *o_out = attended + heads * d;
    bf16 *down_out = o_out + hidden, *gate_up = down_out + hidden, *act = gate_up + 2 * inter;
    float *rotated = fb, *scores = rotated + (heads + kv) * d, *tmp = scores + heads * end;
    float *sums = tmp + 2 * widest;

#pragma omp parallel num_threads(team)
    {
#pragma omp single
        norm_into(h, L->input_scale, x, hidden, L->input_eps, tmp);
        gemv_share(L->qkv, x, qkv, qkv_rows, hidden);
#pragma omp barrier
#pragma omp single
        {
            /* query and key heads: norm, scale, rotate (each step rounded to bf16), then the cache */
            for (int64_t hh = 0; hh < heads + kv; hh++) {
                const bf16 *v = qkv + hh * d;
                for (int64_t j = 0; j < d; j++) tmp[j] = to_f32(v[j]);
                float r = inv_rms(tmp, d, L->head_eps);
                for (int64_t j = 0; j < d; j++) tmp[d + j] = to_f32(to_bf16(tmp[j] * r * L->head_scale[hh * d + j]));
                for (int64_t j = 0; j < d; j++) {
                    float a = to_f32(to_bf16(tmp[d + j] * to_f32(cos[j])));
                    float b = to_f32(to_bf16(tmp[d + (j + half) % d] * to_f32(sin[j])));
                    rotated[hh * d + j] = to_f32(to_bf16(a + b));
                }
            }
            for (int64_t g = 0; g < kv; g++) {
                bf16 *krow = keys + (g * total + slot) * d, *vrow = values + (g * total + slot) * d;
                for (int64_t j = 0; j < d; j++) {
                    krow[j] = to_bf16(rotated[(heads + g) * d + j]);
                    vrow[j] = qkv[(heads + kv + g) * d + j];
                }
            }
        }
        /* scores: each key row read once for the query heads that share it */
#pragma omp for schedule(static)
        for (int64_t t = 0; t < end; t++) {
            float m = to_f32(mask[t]);
            for (int64_t g = 0; g < kv; g++) {
                const bf16 *krow = keys + (g * total + t) * d;
                for (int64_t q = g * group; q < (g + 1) * group; q++) {
                    float s = dot_bf16(rotated + q * d, krow, d);
                    scores[q * end + t] = to_f32(to_bf16(to_f32(to_bf16(s)) + m));
                }
            }
        }
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
        {
            /* weighted values: each thread a slice of the head dimension, all heads and slots */
            int64_t me = omp_get_thread_num(), count = omp_get_num_threads();
            int64_t j0 = d * me / count, j1 = d * (me + 1) / count;
            float *acc = sums + me * own;
            for (int64_t g = 0; g < kv; g++) {
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
                    for (int64_t j = j0; j < j1; j++) attended[(g * group + q) * d + j] = to_bf16(acc[q * d + j]);
            }
        }
#pragma omp barrier
        gemv_share(L->o, attended, o_out, hidden, heads * d);
#pragma omp barrier
#pragma omp single
        {
            add_normed(h, o_out, L->post_attention_scale, L->post_attention_eps, hidden, tmp);
            norm_into(h, L->pre_feedforward_scale, x, hidden, L->pre_feedforward_eps, tmp);
        }
        gemv_share(L->gate_up, x, gate_up, 2 * inter, hidden);
#pragma omp barrier
#pragma omp for schedule(static)
        for (int64_t i = 0; i < inter; i++) act[i] = gelu_times(gate_up[i], gate_up[inter + i]);
        gemv_share(L->down, act, down_out, hidden, inter);
#pragma omp barrier
#pragma omp single
        add_normed(h, down_out, L->post_feedforward_scale, L->post_feedforward_eps, hidden, tmp);
    }
    free(hb);
    free(fb);
    return 0;
}
