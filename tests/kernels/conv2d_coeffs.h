// The coefficients PolyBench's 2DCONV uses, as a program-scope __constant table.
#pragma once
__constant float COEFF[3][3] = {
    { 0.2f, 0.5f, -0.8f},
    {-0.3f, 0.6f, -0.9f},
    { 0.4f, 0.7f,  0.10f},
};
