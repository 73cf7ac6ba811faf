/*=========================================================================
 * The instruction set the networks' arithmetic runs with on this CPU.
 *=========================================================================*/
#ifndef itkCPUInstructionSet_h
#define itkCPUInstructionSet_h

#include <string>

namespace itk
{

/** The instruction set LibTorch's convolutions run with on this CPU: oneDNN's effective ISA without
 * its "cpu_isa_" prefix ("avx512_core_bf16", "avx512_core", "avx2", ...). That is the CPU's own,
 * capped by the environment variable ONEDNN_MAX_CPU_ISA where it is set (oneDNN reads it once, at its
 * first use). When oneDNN cannot be asked (not loaded, other platforms), the CPU's flags give the
 * same names, uncapped; "" where neither is known. Asked once per process, then cached.
 *
 * Capping it (with ATEN_CPU_CAPABILITY=avx2 for LibTorch's own kernels and OPENBLAS_CORETYPE=Haswell
 * for OpenBLAS) runs an AVX512 CPU with the kernels and the `auto` precision of a CPU with AVX2 only:
 * scripts/emulate_cpu.sh. */
std::string
GetCPUInstructionSet();

/** Whether bfloat16 dot products are native in that instruction set (AVX512-BF16 or AMX). */
bool
CPUHasNativeBFloat16();

/** What `auto` precision trains in on this CPU: true (bfloat16) where bfloat16 is native and was
 * measured faster than float32, false (float32) elsewhere. Measured with the VQ-VAE benchmark
 * (bench/run_vqvae_bench.sh), bfloat16 against float32 training: AMD Zen 4 (AVX512-BF16) about 2x
 * faster, AMD Zen 5 (family 26, AVX512-BF16) 1.94x (202.6 against 104.7 images/s); Intel Xeon with AVX512-BF16 and no AMX 0.87x (54.2 against 62.6 images/s), so float32 there.
 * Intel CPUs with AMX tile units (avx512_core_amx) are expected to gain, as oneDNN's bfloat16 kernels
 * are built for them, but were not measured. */
bool
CPUPrefersBFloat16();

/** Whether that instruction set has AVX-512 (the study's slow_cpu settings apply without it). */
bool
CPUHasAVX512();

} // namespace itk

#endif
