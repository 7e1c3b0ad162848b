// Histogram of byte values with atomics: each work-group builds a private histogram in
// __local memory with atomic_inc, then adds it to the global one with atomic_add.
#define BINS 256

__kernel void histogram(__global const uchar *data, int n, __global uint *hist,
                        __local uint *local_hist)
{
    int lid = get_local_id(0);
    int lsize = get_local_size(0);
    for (int b = lid; b < BINS; b += lsize)
        local_hist[b] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int i = get_global_id(0); i < n; i += get_global_size(0))
        atomic_inc(&local_hist[data[i]]);
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int b = lid; b < BINS; b += lsize) {
        uint c = local_hist[b];
        if (c != 0)
            atomic_add(hist + b, c);
    }
}
