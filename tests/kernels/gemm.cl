// PolyBench gemm: C = alpha * A * B + beta * C  (A: NI x NK, B: NK x NJ, C: NI x NJ).
// One work-item per element of C; the row is axis 1, the column axis 0.
#ifndef DATA_TYPE
#define DATA_TYPE float
#endif

__kernel void gemm(__global const DATA_TYPE *A, __global const DATA_TYPE *B,
                   __global DATA_TYPE *C, DATA_TYPE alpha, DATA_TYPE beta,
                   int ni, int nj, int nk)
{
    int j = get_global_id(0);
    int i = get_global_id(1);
    if (i < ni && j < nj) {
        DATA_TYPE acc = 0;
        for (int k = 0; k < nk; k++)
            acc += A[i * nk + k] * B[k * nj + j];
        C[i * nj + j] = alpha * acc + beta * C[i * nj + j];
    }
}
