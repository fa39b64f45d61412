/* The portable "vector" vocabulary of direct_ukernels.inc: vectors of one element of T (the
 * compiler may still vectorise). No include guard: included once per dtype, since the .inc
 * undefines it after use. */
#define VL 1
#define V_ZERO() 0
#define V_SET1(x) (x)
#define V_LOADU(p) (*(p))
#define V_FMA(a, b, c) ((a) * (b) + (c))
#define V_ADD(a, b) ((a) + (b))
#define V_STOREU(p, v) (*(p) = (v))
#define V_HSUM(v) (v)
/* Never used with one-element vectors (a row has no partial vector), but must compile. */
#define V_LOAD_PART(p, n) ((n) > 0 ? *(p) : 0)
#define V_STORE_PART(p, v, n) ((void)((n) > 0 ? (*(p) = (v)) : 0))
