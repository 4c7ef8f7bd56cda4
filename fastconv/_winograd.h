/* Template of the Winograd tile transforms (see _winograd_kernels.h), included by
   _simd_instantiate.h once per (dtype, instruction-set level): FC_T, FC_ATTR and FC_FN come
   from there. Not include-guarded. */
FCW_INPUT(FC_T, 2, FC_FN(wino_in2), FC_ATTR)
FCW_INPUT(FC_T, 4, FC_FN(wino_in4), FC_ATTR)
FCW_INPUT(FC_T, 6, FC_FN(wino_in6), FC_ATTR)
FCW_OUTPUT(FC_T, 2, FC_FN(wino_out2), FC_ATTR)
FCW_OUTPUT(FC_T, 4, FC_FN(wino_out4), FC_ATTR)
FCW_OUTPUT(FC_T, 6, FC_FN(wino_out6), FC_ATTR)
FCW_GRADOUT(FC_T, 2, FC_FN(wino_gout2), FC_ATTR)
FCW_GRADOUT(FC_T, 4, FC_FN(wino_gout4), FC_ATTR)
FCW_GRADOUT(FC_T, 6, FC_FN(wino_gout6), FC_ATTR)
