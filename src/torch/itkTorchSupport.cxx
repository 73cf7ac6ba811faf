/*=========================================================================
 * Shared LibTorch support of the models (itkTorchSupport.h).
 *=========================================================================*/
#include "itkTorchSupport.h"
#include "itkCPUInstructionSet.h"
#include "itkModelFile.h"
#include "itkMacro.h"
#include "itkMultiThreaderBase.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#if defined(__unix__)
#  include <dlfcn.h>
#endif

namespace itk
{
namespace torchsupport
{

namespace
{
// LibTorch's autocast state of one device type. LibTorch 2.4 made it per device type
// (is_autocast_enabled(type), ...) and deprecated the CUDA- and CPU-specific calls, which from then
// on print a deprecation warning at every call (four per autocast region, several regions a step).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool
AutocastEnabled(c10::DeviceType type)
{
  return at::autocast::is_autocast_enabled(type);
}
void
SetAutocastEnabled(c10::DeviceType type, bool enabled)
{
  at::autocast::set_autocast_enabled(type, enabled);
}
at::ScalarType
AutocastType(c10::DeviceType type)
{
  return at::autocast::get_autocast_dtype(type);
}
void
SetAutocastType(c10::DeviceType type, at::ScalarType scalarType)
{
  at::autocast::set_autocast_dtype(type, scalarType);
}
#else
bool
AutocastEnabled(c10::DeviceType type)
{
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
void
SetAutocastEnabled(c10::DeviceType type, bool enabled)
{
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_enabled(enabled);
  else
    at::autocast::set_cpu_enabled(enabled);
}
at::ScalarType
AutocastType(c10::DeviceType type)
{
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
}
void
SetAutocastType(c10::DeviceType type, at::ScalarType scalarType)
{
  if (type == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(scalarType);
  else
    at::autocast::set_autocast_cpu_dtype(scalarType);
}
#endif
} // namespace

torch::Device
ResolveDevice(const std::string & name, std::string & warning)
{
  if (name == "cpu")
  {
    return torch::kCPU;
  }
  if (name == "auto")
  {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  }
  if (name.rfind("cuda", 0) == 0)
  {
    const std::string rest = name.substr(4);
    int               index = 0;
    bool              ok = rest.empty();
    if (!ok && rest[0] == ':' && rest.size() > 1 && rest.size() < 6 &&
        rest.find_first_not_of("0123456789", 1) == std::string::npos)
    {
      index = std::stoi(rest.substr(1));
      ok = true;
    }
    if (ok)
    {
      if (!torch::cuda::is_available())
      {
        warning = "device " + name + " asked for, but this LibTorch has no CUDA device available: using the CPU";
        return torch::kCPU;
      }
      if (index >= static_cast<int>(torch::cuda::device_count()))
      {
        warning = "device " + name + " asked for, but only " + std::to_string(torch::cuda::device_count()) +
                  " CUDA device(s) are present: using the CPU";
        return torch::kCPU;
      }
      return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
  }
  ExceptionObject e(
    __FILE__, __LINE__, "unknown device \"" + name + "\": use auto, cpu or cuda:N (for example cuda:0)", ITK_LOCATION);
  throw e;
}

std::string
ResolvePrecision(const std::string & name, const torch::Device & device)
{
  if (name == "bfloat16" && device.is_cpu() && !itk::CPUHasAVX512())
  {
    // oneDNN has no bfloat16 convolutions below AVX-512 (capped there it fails with "could not create
    // a primitive descriptor iterator"; on a real AVX2 CPU LibTorch would take its generic kernels
    // instead, not measured here, with nothing to gain over float32).
    ExceptionObject e(__FILE__,
                      __LINE__,
                      "precision bfloat16 needs a CPU with AVX-512 (this one runs " + itk::GetCPUInstructionSet() +
                        "): use float32 (or auto)",
                      ITK_LOCATION);
    throw e;
  }
  if (name == "float32" || name == "bfloat16")
  {
    return name;
  }
  if (name == "auto")
  {
    // bfloat16 trains up to 2x faster on CPUs with AVX512-BF16 (AMD Zen 4 and 5), but the demo's
    // cross-validation on Zen 5 met fewer targets with it (sum 20 against float32's 24; mean |dV_f|
    // 0.86 against 0.57 pp; session 34), so `auto` does not trade fidelity for speed.
    return "float32";
  }
  ExceptionObject e(__FILE__,
                    __LINE__,
                    "unknown precision \"" + name + "\": use float32, bfloat16 (mixed precision) or auto",
                    ITK_LOCATION);
  throw e;
}

BFloat16Autocast::BFloat16Autocast(bool enabled, const torch::Device & device)
  : m_Enabled(enabled)
  , m_Cuda(device.is_cuda())
{
  if (!m_Enabled)
  {
    return;
  }
  const auto type = m_Cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
  m_WasEnabled = AutocastEnabled(type);
  m_WasType = AutocastType(type);
  SetAutocastType(type, at::kBFloat16);
  SetAutocastEnabled(type, true);
  at::autocast::increment_nesting();
}

BFloat16Autocast::~BFloat16Autocast()
{
  if (!m_Enabled)
  {
    return;
  }
  if (at::autocast::decrement_nesting() == 0)
  {
    at::autocast::clear_cache();
  }
  const auto type = m_Cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU;
  SetAutocastEnabled(type, m_WasEnabled);
  SetAutocastType(type, m_WasType);
}

void
SetTorchThreads()
{
  torch::set_num_threads(static_cast<int>(MultiThreaderBase::GetGlobalDefaultNumberOfThreads()));
}

torch::optim::Adam &
Optimizer::Get(torch::nn::Module & module, double learningRate, const torch::Device & device)
{
  if (!m_Adam)
  {
    m_Adam = std::make_unique<torch::optim::Adam>(module.parameters(), torch::optim::AdamOptions(learningRate));
    if (!m_Pending.empty())
    {
      modelfile::LoadOptimizer(*m_Adam, m_Pending, device);
      m_Pending.clear();
      this->SetLearningRate(learningRate); // the rate asked for now, not the one saved
    }
  }
  return *m_Adam;
}

void
Optimizer::SetLearningRate(double learningRate)
{
  if (m_Adam)
  {
    for (auto & group : m_Adam->param_groups())
    {
      static_cast<torch::optim::AdamOptions &>(group.options()).lr(learningRate);
    }
  }
}

std::string
Optimizer::Save() const
{
  return m_Adam ? modelfile::SaveOptimizer(*m_Adam) : m_Pending;
}

void
Optimizer::Park()
{
  m_Pending = this->Save();
  m_Adam.reset();
}

void
Optimizer::Reset()
{
  m_Adam.reset();
  m_Pending.clear();
}

void
Optimizer::SetPending(std::string bytes)
{
  m_Adam.reset();
  m_Pending = std::move(bytes);
}

} // namespace torchsupport

namespace
{
std::string
AskCPUInstructionSet()
{
#if defined(__unix__)
  // oneDNN's C API (dnnl.h, dnnl_debug.h), loaded with LibTorch: asked at run time, so that no header
  // or link of oneDNN's own is needed and a LibTorch without it falls back to the flags.
  using EffectiveISA = int (*)();
  using ISAName = const char * (*)(int);
  const auto effective = reinterpret_cast<EffectiveISA>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  const auto name = reinterpret_cast<ISAName>(dlsym(RTLD_DEFAULT, "dnnl_cpu_isa2str"));
  if (effective && name)
  {
    const char *      text = name(effective());
    std::string       isa = text ? text : "";
    const std::string prefix = "cpu_isa_";
    if (isa.compare(0, prefix.size(), prefix) == 0)
      isa.erase(0, prefix.size());
    if (!isa.empty() && isa != "unknown")
      return isa;
  }
#endif
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && (__GNUC__ >= 12 || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16"))
    return "avx512_core_bf16";
  if (__builtin_cpu_supports("avx512f"))
    return "avx512_core";
  if (__builtin_cpu_supports("avx2"))
    return "avx2";
#endif
  return "";
}
} // namespace

std::string
GetCPUInstructionSet()
{
  // Asked once: oneDNN fixes its effective ISA (and reads ONEDNN_MAX_CPU_ISA) at its first use, so
  // later answers are the same; training asks at every step (ResolvePrecision).
  static const std::string isa = AskCPUInstructionSet();
  return isa;
}

bool
CPUHasAVX512()
{
  return GetCPUInstructionSet().find("avx512") != std::string::npos;
}

} // namespace itk
