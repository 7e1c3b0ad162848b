// PolyBench mvt: x1 = x1 + A y1 ; x2 = x2 + A^T y2.
typedef float real;

__kernel void mvt_kernel1(__global const real *a, __global real *x1,
                          __global const real *y1, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        real acc = x1[i];
        int j = 0;
        while (j < n) {                 // a while loop on purpose
            acc += a[i * n + j] * y1[j];
            j++;
        }
        x1[i] = acc;
    }
}

__kernel void mvt_kernel2(__global const real *a, __global real *x2,
                          __global const real *y2, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        int j = 0;
        do {
            x2[i] += a[j * n + i] * y2[j];
        } while (++j < n);
    }
}
