// PolyBench jacobi-2d: B = 0.2 * (5-point stencil of A) on the interior; the host swaps A and B
// each time step.
#define IDX(i, j) ((i) * n + (j))

inline float five_point(__global const float *a, int i, int j, int n)
{
    return 0.2f * (a[IDX(i, j)] + a[IDX(i, j - 1)] + a[IDX(i, j + 1)] + a[IDX(i + 1, j)] +
                   a[IDX(i - 1, j)]);
}

__kernel void jacobi2d_step(__global const float *A, __global float *B, int n)
{
    int i = get_global_id(1), j = get_global_id(0);
    if (i >= 1 && i < n - 1 && j >= 1 && j < n - 1)
        B[IDX(i, j)] = five_point(A, i, j, n);
}
