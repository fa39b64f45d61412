/* A small deterministic random generator (xorshift128+ seeded by splitmix64), so that a
 * seed gives the same initialisation and shuffles on every machine and C library. */
#ifndef CJ_NN_RNG_H
#define CJ_NN_RNG_H
#include <stddef.h>
#include <stdint.h>

typedef struct nn_rng {
    uint64_t s[2];
} nn_rng;

static inline uint64_t nn_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void nn_rng_seed(nn_rng *r, uint64_t seed)
{
    r->s[0] = nn_splitmix64(&seed);
    r->s[1] = nn_splitmix64(&seed);
}

/* xorshift128+ */
static inline uint64_t nn_rng_next(nn_rng *r)
{
    uint64_t a = r->s[0];
    const uint64_t b = r->s[1];
    r->s[0] = b;
    a ^= a << 23;
    r->s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return r->s[1] + b;
}

/* Uniform in [0, 1), 24 bits: every value exactly representable in float. */
static inline float nn_rng_uniform(nn_rng *r)
{
    return (float)(nn_rng_next(r) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32). */
static inline uint32_t nn_rng_below(nn_rng *r, uint32_t n)
{
    return (uint32_t)(((nn_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Fisher-Yates shuffle of v[0, n). */
static inline void nn_rng_shuffle(nn_rng *r, uint32_t *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        const uint32_t j = nn_rng_below(r, (uint32_t)i);
        const uint32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

#endif
