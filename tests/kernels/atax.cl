// PolyBench atax: y = A^T (A x). Kernel 1: tmp = A x (one work-item per row);
// kernel 2: y = A^T tmp (one work-item per column).
__kernel void atax_kernel1(__global const float *A, __global const float *x,
                           __global float *tmp, int nx, int ny)
{
    int i = get_global_id(0);
    if (i < nx) {
        float s = 0.0f;
        __global const float *row = A + i * ny;     // pointer arithmetic into A
        for (int j = 0; j < ny; j++)
            s += row[j] * x[j];
        tmp[i] = s;
    }
}

__kernel void atax_kernel2(__global const float *A, __global float *y,
                           __global const float *tmp, int nx, int ny)
{
    int j = get_global_id(0);
    if (j < ny) {
        float s = 0.0f;
        for (int i = 0; i < nx; i++)
            s += A[i * ny + j] * tmp[i];
        y[j] = s;
    }
}
