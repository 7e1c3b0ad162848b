// PolyBench 2DCONV: a 3x3 stencil with fixed coefficients on the interior of the image.
#include "conv2d_coeffs.h"

__kernel void convolution2d(__global const float *A, __global float *B, int ni, int nj)
{
    int j = get_global_id(0);
    int i = get_global_id(1);
    if (i > 0 && i < ni - 1 && j > 0 && j < nj - 1) {
        float acc = 0.0f;
#pragma unroll
        for (int di = -1; di <= 1; di++)
            for (int dj = -1; dj <= 1; dj++)
                acc += COEFF[di + 1][dj + 1] * A[(i + di) * nj + (j + dj)];
        B[i * nj + j] = acc;
    }
}
