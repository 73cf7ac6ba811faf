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
 * for OpenBLAS) runs an AVX512 CPU with the kernels and the slow_cpu settings of a CPU with AVX2 only:
 * scripts/emulate_cpu.sh. */
std::string
GetCPUInstructionSet();

/** Whether that instruction set has AVX-512 (the study's slow_cpu settings apply without it). */
bool
CPUHasAVX512();

} // namespace itk

#endif
