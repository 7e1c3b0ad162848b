// PolyBench 2mm: tmp = alpha * A * B ; D = beta * D + tmp * C.
// Two kernels, launched one after the other over the output matrices.
__kernel void mm2_kernel1(__global const float *A, __global const float *B,
                          __global float *tmp, float alpha, int ni, int nj, int nk)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= ni || j >= nj)
        return;
    float s = 0.0f;
    for (int k = 0; k < nk; ++k)
        s += alpha * A[i * nk + k] * B[k * nj + j];
    tmp[i * nj + j] = s;
}

__kernel void mm2_kernel2(__global const float *tmp, __global const float *C,
                          __global float *D, float beta, int ni, int nj, int nl)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i < ni && j < nl) {
        float s = D[i * nl + j] * beta;
        for (int k = 0; k < nj; ++k)
            s += tmp[i * nj + k] * C[k * nl + j];
        D[i * nl + j] = s;
    }
}
