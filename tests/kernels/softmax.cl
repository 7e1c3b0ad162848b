// Row softmax: one work-group per row. Each work-item strides over the row; the row's maximum
// and then the sum of exponentials are reduced in __local memory by a tree with barriers.
#ifndef WG
#define WG 64
#endif

static void reduce_max(__local float *s, int lid)
{
    for (int stride = WG / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            s[lid] = fmax(s[lid], s[lid + stride]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

static void reduce_sum(__local float *s, int lid)
{
    for (int stride = WG / 2; stride > 0; stride >>= 1) {
        if (lid < stride)
            s[lid] += s[lid + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void row_softmax(__global const float *x, __global float *y, int cols)
{
    __local float scratch[WG];
    const int row = get_group_id(0);
    const int lid = get_local_id(0);
    __global const float *in = x + row * cols;
    __global float *out = y + row * cols;

    float m = -INFINITY;
    for (int c = lid; c < cols; c += WG)
        m = max(m, in[c]);
    scratch[lid] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    reduce_max(scratch, lid);
    const float row_max = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);

    float s = 0.0f;
    for (int c = lid; c < cols; c += get_local_size(0))
        s += exp(in[c] - row_max);
    scratch[lid] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    reduce_sum(scratch, lid);
    const float inv = 1.0f / scratch[0];

    for (int c = lid; c < cols; c += WG)
        out[c] = native_exp(in[c] - row_max) * inv;
}
