// PolyBench gesummv: y = alpha * A x + beta * B x. Vector loads where the row allows
// (vload4), a scalar loop for the tail.
__kernel void gesummv(__global const float *A, __global const float *B,
                      __global const float *x, __global float *y, __global float *tmp,
                      float alpha, float beta, int n)
{
    int i = get_global_id(0);
    if (i < n) {
        float4 ta = (float4)(0.0f), tb = (float4)(0.0f);
        int j = 0;
        for (; j + 4 <= n; j += 4) {
            float4 xv = vload4(j / 4, x);
            ta += vload4(0, A + i * n + j) * xv;
            tb += vload4(0, B + i * n + j) * xv;
        }
        float sa = ta.x + ta.y + ta.z + ta.w;
        float sb = dot(tb, (float4)(1.0f, 1.0f, 1.0f, 1.0f));
        for (; j < n; j++) {
            sa += A[i * n + j] * x[j];
            sb += B[i * n + j] * x[j];
        }
        tmp[i] = sa;
        y[i] = alpha * sa + beta * sb;
    }
}
