// Tiled matrix multiply in CUDA: C = A B with A: M x K, B: K x N, tiles of BLOCK x BLOCK in
// __shared__ memory, __syncthreads between loading a tile and using it.
#ifndef BLOCK
#define BLOCK 8
#endif

template <typename T>
__device__ __forceinline__ T tile_load(const T *__restrict__ src, int rows, int cols, int r,
                                       int c)
{
    return (r < rows && c < cols) ? src[r * cols + c] : T(0);
}

extern "C" __global__ void matmul_tiled(const float *__restrict__ A,
                                        const float *__restrict__ B, float *C, int M, int N,
                                        int K)
{
    __shared__ float As[BLOCK][BLOCK];
    __shared__ float Bs[BLOCK][BLOCK];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * BLOCK + ty;
    int col = blockIdx.x * BLOCK + tx;
    float acc = 0.0f;
    for (int t = 0; t < (K + BLOCK - 1) / BLOCK; ++t) {
        As[ty][tx] = tile_load(A, M, K, row, t * BLOCK + tx);
        Bs[ty][tx] = tile_load<float>(B, K, N, t * BLOCK + ty, col);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BLOCK; ++k)
            acc = fmaf(As[ty][k], Bs[k][tx], acc);
        __syncthreads();
    }
    if (row < M && col < N)
        C[row * N + col] = acc;
}
