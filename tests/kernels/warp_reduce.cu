// Sum reduction with warp shuffles: each warp reduces with __shfl_down_sync, lane 0 of each
// warp writes its partial sum to dynamic shared memory, the first warp reduces the partials
// and thread 0 adds the block's sum to the result with atomicAdd.
#define FULL_MASK 0xffffffffu

__inline__ __device__ float warp_reduce_sum(float v)
{
    for (int offset = warpSize / 2; offset > 0; offset /= 2)
        v += __shfl_down_sync(FULL_MASK, v, offset);
    return v;
}

extern "C" __global__ void reduce_sum(const float *in, float *out, unsigned int n)
{
    extern __shared__ float partial[];
    unsigned int tid = threadIdx.x;
    unsigned int lane = tid % warpSize;
    unsigned int warp = tid / warpSize;
    float v = 0.0f;
    for (unsigned int i = blockIdx.x * blockDim.x + tid; i < n; i += blockDim.x * gridDim.x)
        v += in[i];
    v = warp_reduce_sum(v);
    if (lane == 0)
        partial[warp] = v;
    __syncthreads();
    unsigned int nwarps = (blockDim.x + warpSize - 1) / warpSize;
    if (warp == 0) {
        v = lane < nwarps ? partial[lane] : 0.0f;
        v = warp_reduce_sum(v);
        if (lane == 0)
            atomicAdd(out, v);
    }
}

// The maximum with a butterfly (__shfl_xor_sync): every lane ends with the warp's maximum.
extern "C" __global__ void warp_max(const int *in, int *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int v = in[i];
    for (int mask = 16; mask >= 1; mask >>= 1)
        v = max(v, __shfl_xor_sync(__activemask(), v, mask));
    out[i] = v;
}
