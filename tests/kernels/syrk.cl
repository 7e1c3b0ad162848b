// PolyBench syrk: C = alpha * A A^T + beta * C on the lower triangle (j <= i), A: N x M.
__kernel void syrk(__global const float *A, __global float *C, float alpha, float beta,
                   int n, int m)
{
    int j = get_global_id(0);
    int i = get_global_id(1);
    if (i < n && j <= i) {
        C[i * n + j] *= beta;
        for (int k = 0; k < m; k++)
            C[i * n + j] += alpha * A[i * m + k] * A[j * m + k];
    }
}
